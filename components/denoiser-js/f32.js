// Single-precision tanh, sin and cos exactly as the Rust denoiser gets them:
// on wasm32-wasip2, Rust's f32::tanh/sin/cos call wasi-libc, i.e. musl's
// tanhf/expm1f, sinf/cosf and their double kernels __sindf/__cosdf. Those
// are not correctly rounded, so Math.fround(Math.tanh(x)) differs from them
// in the last bit now and then; these ports (from musl's src/math, MIT
// licence; FreeBSD msun origin, Copyright (C) 1993 by Sun Microsystems)
// give the same bits, which is what lets this component's motion equal the
// Rust one's bit for bit. Float arithmetic is emulated with Math.fround
// after every operation (exact: double has more than twice float's bits).

const f = Math.fround;
const word = new Uint32Array(1);
const float = new Float32Array(word.buffer);

function bitsOf(x) {
  float[0] = x;
  return word[0];
}

function fromBits(i) {
  word[0] = i;
  return float[0];
}

// ---- expm1f, tanhf (float arithmetic throughout) ------------------------------

const LN2_HI = f(6.9313812256e-1);
const LN2_LO = f(9.0580006145e-6);
const INVLN2 = f(1.4426950216);
const Q1 = f(-3.3333212137e-2);
const Q2 = f(1.5807170421e-3);

export function expm1f(x) {
  x = f(x);
  const hx = bitsOf(x) & 0x7fffffff;
  const sign = bitsOf(x) >>> 31;
  let k;
  let c = 0;
  if (hx >= 0x4195b844) {
    // |x| >= 27 ln2
    if (hx > 0x7f800000) return x;
    if (sign) return -1;
    if (hx > 0x42b17217) return f(x * 2 ** 127);
  }
  if (hx > 0x3eb17218) {
    // |x| > 0.5 ln2: argument reduction
    let hi;
    let lo;
    if (hx < 0x3f851592) {
      // and |x| < 1.5 ln2
      if (!sign) {
        hi = f(x - LN2_HI);
        lo = LN2_LO;
        k = 1;
      } else {
        hi = f(x + LN2_HI);
        lo = -LN2_LO;
        k = -1;
      }
    } else {
      k = Math.trunc(f(f(INVLN2 * x) + (sign ? -0.5 : 0.5)));
      const t = k;
      hi = f(x - f(t * LN2_HI));
      lo = f(t * LN2_LO);
    }
    x = f(hi - lo);
    c = f(f(hi - x) - lo);
  } else if (hx < 0x33000000) {
    // |x| < 2^-25
    return x;
  } else {
    k = 0;
  }
  const hfx = f(0.5 * x);
  const hxs = f(x * hfx);
  const r1 = f(1 + f(hxs * f(Q1 + f(hxs * Q2))));
  const t = f(3 - f(r1 * hfx));
  let e = f(hxs * f(f(r1 - t) / f(6 - f(x * t))));
  if (k === 0) return f(x - f(f(x * e) - hxs));
  e = f(f(x * f(e - c)) - c);
  e = f(e - hxs);
  if (k === -1) return f(f(0.5 * f(x - e)) - 0.5);
  if (k === 1) {
    if (x < -0.25) return f(-2 * f(e - f(x + 0.5)));
    return f(1 + f(2 * f(x - e)));
  }
  const twopk = fromBits(((0x7f + k) << 23) >>> 0);
  if (k < 0 || k > 56) {
    let y = f(f(x - e) + 1);
    y = k === 128 ? f(f(y * 2) * 2 ** 127) : f(y * twopk);
    return f(y - 1);
  }
  const u = fromBits(((0x7f - k) << 23) >>> 0);
  if (k < 23) return f(f(f(x - e) + f(1 - u)) * twopk);
  return f(f(f(x - f(e + u)) + 1) * twopk);
}

export function tanhf(x) {
  x = f(x);
  const sign = bitsOf(x) >>> 31;
  const w = bitsOf(x) & 0x7fffffff;
  x = fromBits(w);
  let t;
  if (w > 0x3f0c9f54) {
    // |x| > log(3)/2 or NaN
    if (w > 0x41200000) {
      t = f(1 + 0 / x);
    } else {
      t = expm1f(f(2 * x));
      t = f(1 - f(2 / f(t + 2)));
    }
  } else if (w > 0x3e82c578) {
    // |x| > log(5/3)/2
    t = expm1f(f(2 * x));
    t = f(t / f(t + 2));
  } else if (w >= 0x00800000) {
    t = expm1f(f(-2 * x));
    t = f(-t / f(t + 2));
  } else {
    t = x;
  }
  return sign ? -t : t;
}

// ---- sinf, cosf (double kernels, float result) -----------------------------------

const S1 = -0x15555554cbac77 * 2 ** -55;
const S2 = 0x111110896efbb2 * 2 ** -59;
const S3 = -0x1a00f9e2cae774 * 2 ** -65;
const S4 = 0x16cd878c3b46a7 * 2 ** -71;
const C0 = -0x1ffffffd0c5e81 * 2 ** -54;
const C1 = 0x155553e1053a42 * 2 ** -57;
const C2 = -0x16c087e80f1e27 * 2 ** -62;
const C3 = 0x199342e0ee5069 * 2 ** -68;

function sindf(x) {
  const z = x * x;
  const w = z * z;
  const r = S3 + z * S4;
  const s = z * x;
  return f(x + s * (S1 + z * S2) + s * w * r);
}

function cosdf(x) {
  const z = x * x;
  const w = z * z;
  const r = C2 + z * C3;
  return f(1.0 + z * C0 + w * C1 + w * z * r);
}

const PIO2_1 = 1.5707963109016418457;
const PIO2_1T = 1.58932547735281966916e-8;
const INVPIO2 = 6.36619772367581382433e-1;
const TOINT = 1.5 / Number.EPSILON;

// x reduced by the nearest multiple n of pi/2: [n, remainder] (medium |x|;
// the callers only need that).
function remPio2f(x) {
  const fn = x * INVPIO2 + TOINT - TOINT;
  return [fn | 0, x - fn * PIO2_1 - fn * PIO2_1T];
}

const PIO2 = [1, 2, 3, 4].map((k) => k * (Math.PI / 2));

export function sinf(x) {
  x = f(x);
  const sign = bitsOf(x) >>> 31;
  const ix = bitsOf(x) & 0x7fffffff;
  if (ix <= 0x3f490fda) {
    // |x| <= pi/4
    if (ix < 0x39800000) return x;
    return sindf(x);
  }
  if (ix <= 0x407b53d1) {
    // |x| <= 5pi/4
    if (ix <= 0x4016cbe3) return sign ? -cosdf(x + PIO2[0]) : cosdf(x - PIO2[0]);
    return sindf(sign ? -(x + PIO2[1]) : -(x - PIO2[1]));
  }
  if (ix <= 0x40e231d5) {
    // |x| <= 9pi/4
    if (ix <= 0x40afeddf) return sign ? cosdf(x + PIO2[2]) : -cosdf(x - PIO2[2]);
    return sindf(sign ? x + PIO2[3] : x - PIO2[3]);
  }
  if (ix >= 0x7f800000) return NaN;
  if (ix >= 0x4dc90fdb) return f(Math.sin(x)); // |x| >= 2^28 pi/2: never here
  const [n, y] = remPio2f(x);
  switch (n & 3) {
    case 0:
      return sindf(y);
    case 1:
      return cosdf(y);
    case 2:
      return sindf(-y);
    default:
      return -cosdf(y);
  }
}

export function cosf(x) {
  x = f(x);
  const sign = bitsOf(x) >>> 31;
  const ix = bitsOf(x) & 0x7fffffff;
  if (ix <= 0x3f490fda) {
    if (ix < 0x39800000) return 1;
    return cosdf(x);
  }
  if (ix <= 0x407b53d1) {
    if (ix > 0x4016cbe3) return -cosdf(sign ? x + PIO2[1] : x - PIO2[1]);
    return sign ? sindf(x + PIO2[0]) : sindf(PIO2[0] - x);
  }
  if (ix <= 0x40e231d5) {
    if (ix > 0x40afeddf) return cosdf(sign ? x + PIO2[3] : x - PIO2[3]);
    return sign ? sindf(-x - PIO2[2]) : sindf(x - PIO2[2]);
  }
  if (ix >= 0x7f800000) return NaN;
  if (ix >= 0x4dc90fdb) return f(Math.cos(x));
  const [n, y] = remPio2f(x);
  switch (n & 3) {
    case 0:
      return cosdf(y);
    case 1:
      return sindf(-y);
    case 2:
      return -cosdf(y);
    default:
      return sindf(y);
  }
}
