"""Single-precision scalar arithmetic, bit for bit as the Rust denoiser does
it on the CPU.

Python floats are doubles; the Rust model computes its schedule and its
decoding in ``f32``. For ``+ - * /`` and ``sqrt``, computing in double and
rounding once to f32 gives exactly the f32 result (double has more than
2 * 24 + 2 bits), so ``f32(a * b)`` is Rust's ``a * b``. ``sin``, ``cos`` and
``tanh`` are not correctly rounded in any libm, so the ones Rust links on
wasm32 (musl's ``sinf``, ``cosf``, ``tanhf``, ``expm1f``; the Rust ``libm``
crate is the same code) are ported here step by step: the sine and cosine
kernels compute in double, which Python does natively; ``expm1f`` rounds
every step to f32. Only the argument ranges this model needs are ported
(|x| <= 3 pi / 4 for sin and cos).
"""

import math
import struct

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")


def f32(x):
    """``x`` rounded to the nearest f32 (ties to even), as a Python float."""
    return _F32.unpack(_F32.pack(x))[0]


def bits(x):
    """The f32 bit pattern of ``x`` (already an f32 value)."""
    return _U32.unpack(_F32.pack(x))[0]


def from_bits(b):
    return _F32.unpack(_U32.pack(b & 0xFFFFFFFF))[0]


def sqrtf(x):
    return f32(math.sqrt(x))


# ---- musl __sindf / __cosdf: |x| <= pi/4, in double -----------------------------

_S1 = -0x15555554CBAC77 * 2.0**-55
_S2 = 0x111110896EFBB2 * 2.0**-59
_S3 = -0x1A00F9E2CAE774 * 2.0**-65
_S4 = 0x16CD878C3B46A7 * 2.0**-71
_C0 = -0x1FFFFFFD0C5E81 * 2.0**-54
_C1 = 0x155553E1053A42 * 2.0**-57
_C2 = -0x16C087E80F1E27 * 2.0**-62
_C3 = 0x199342E0EE5069 * 2.0**-68
_PIO2 = 1.57079632679489655800e00  # 1 * pi/2, as double


def _sindf(x):
    z = x * x
    w = z * z
    r = _S3 + z * _S4
    s = z * x
    return f32((x + s * (_S1 + z * _S2)) + s * w * r)


def _cosdf(x):
    z = x * x
    w = z * z
    r = _C2 + z * _C3
    return f32(((1.0 + z * _C0) + w * _C1) + (w * z) * r)


def sinf(x):
    ix = bits(x) & 0x7FFFFFFF
    if ix <= 0x3F490FDA:  # |x| <= pi/4
        if ix < 0x39800000:  # |x| < 2^-12
            return x
        return _sindf(x)
    if ix <= 0x4016CBE3:  # |x| <= 3 pi/4
        return -_cosdf(x + _PIO2) if x < 0 else _cosdf(x - _PIO2)
    raise ValueError(f"sinf is ported for |x| <= 3 pi/4 only; got {x}")


def cosf(x):
    ix = bits(x) & 0x7FFFFFFF
    if ix <= 0x3F490FDA:  # |x| <= pi/4
        if ix < 0x39800000:  # |x| < 2^-12
            return 1.0
        return _cosdf(x)
    if ix <= 0x4016CBE3:  # |x| <= 3 pi/4
        return _sindf(x + _PIO2) if x < 0 else _sindf(_PIO2 - x)
    raise ValueError(f"cosf is ported for |x| <= 3 pi/4 only; got {x}")


# ---- musl expm1f and tanhf: every step in f32 --------------------------------

_LN2_HI = from_bits(0x3F317180)
_LN2_LO = from_bits(0x3717F7D1)
_INV_LN2 = from_bits(0x3FB8AA3B)
_Q1 = f32(-0x888868 * 2.0**-28)
_Q2 = f32(0xCF3010 * 2.0**-33)


def expm1f(x):
    hx = bits(x)
    sign = hx >> 31
    hx &= 0x7FFFFFFF
    if hx >= 0x4195B844:  # |x| >= 27 ln2
        if hx > 0x7F800000:
            return x
        if sign:
            return -1.0
        if hx > 0x42B17217:
            return math.inf
    c = 0.0
    if hx > 0x3EB17218:  # |x| > ln2 / 2
        if hx < 0x3F851592:  # and |x| < 1.5 ln2
            if not sign:
                hi, lo, k = f32(x - _LN2_HI), _LN2_LO, 1
            else:
                hi, lo, k = f32(x + _LN2_HI), -_LN2_LO, -1
        else:
            k = int(f32(f32(_INV_LN2 * x) + (-0.5 if sign else 0.5)))  # truncates
            t = float(k)
            hi = f32(x - f32(t * _LN2_HI))
            lo = f32(t * _LN2_LO)
        x = f32(hi - lo)
        c = f32(f32(hi - x) - lo)
    elif hx < 0x33000000:  # |x| < 2^-25
        return x
    else:
        k = 0
    hfx = f32(0.5 * x)
    hxs = f32(x * hfx)
    r1 = f32(1.0 + f32(hxs * f32(_Q1 + f32(hxs * _Q2))))
    t = f32(3.0 - f32(r1 * hfx))
    e = f32(hxs * f32(f32(r1 - t) / f32(6.0 - f32(x * t))))
    if k == 0:
        return f32(x - f32(f32(x * e) - hxs))
    e = f32(f32(x * f32(e - c)) - c)
    e = f32(e - hxs)
    if k == -1:
        return f32(f32(0.5 * f32(x - e)) - 0.5)
    if k == 1:
        if x < -0.25:
            return f32(-2.0 * f32(e - f32(x + 0.5)))
        return f32(1.0 + f32(2.0 * f32(x - e)))
    twopk = from_bits((0x7F + k) << 23)
    if k < 0 or k > 56:
        y = f32(f32(x - e) + 1.0)
        y = f32(f32(y * 2.0) * from_bits(0x7F000000)) if k == 128 else f32(y * twopk)
        return f32(y - 1.0)
    uf = from_bits((0x7F - k) << 23)
    if k < 23:
        return f32(f32(f32(x - e) + f32(1.0 - uf)) * twopk)
    return f32(f32(f32(x - f32(e + uf)) + 1.0) * twopk)


def tanhf(x):
    b = bits(x)
    sign = b >> 31
    w = b & 0x7FFFFFFF
    x = from_bits(w)
    if w > 0x3F0C9F54:  # |x| > log(3) / 2, or NaN
        if w > 0x41200000:  # |x| > 10
            t = 1.0 if w <= 0x7F800000 else x
        else:
            t = expm1f(f32(2.0 * x))
            t = f32(1.0 - f32(2.0 / f32(t + 2.0)))
    elif w > 0x3E82C578:  # |x| > log(5/3) / 2
        t = expm1f(f32(2.0 * x))
        t = f32(t / f32(t + 2.0))
    elif w >= 0x00800000:  # |x| >= 2^-126
        t = expm1f(f32(-2.0 * x))
        t = f32(-t / f32(t + 2.0))
    else:  # subnormal
        t = x
    return -t if sign else t
