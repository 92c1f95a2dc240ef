// Protocol errors a backbone throws, with the reference SDK's codes, wording
// and details (motionmcp-sdk 0.13.0, `motionmcp.errors`).

// Code -> HTTP status. The set is closed; the host maps the code.
export const STATUS_FOR = Object.freeze({
  schema_validation: 422,
  unknown_model: 400,
  retargeting_unsupported: 400,
  unsupported_constraint: 400,
  unsupported_segment: 400,
  unknown_joint: 400,
  invalid_skeleton: 400,
  frame_out_of_range: 400,
  invalid_options: 400,
  invalid_request: 400,
  version_unsupported: 400,
  unauthorized: 401,
  forbidden: 403,
  payload_too_large: 413,
  rate_limited: 429,
  internal_error: 500,
  resource_exhausted: 503,
  model_unavailable: 503,
  timeout: 504,
});

export class ProtocolError extends Error {
  constructor(code, message, details = {}) {
    if (!(code in STATUS_FOR)) {
      throw new RangeError(`unknown protocol error code: ${pyRepr(String(code))}`);
    }
    super(`${code}: ${message}`);
    this.name = "ProtocolError";
    this.code = code;
    this.details = details ?? {};
    // `message` as the envelope shows it, without the code prefix.
    this.envelopeMessage = message;
  }

  get statusCode() {
    return STATUS_FOR[this.code];
  }
}

// Python's repr() of a string: the reference renders names in messages this way.
export function pyRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const c of s) {
    const n = c.codePointAt(0);
    if (c === "\\") out += "\\\\";
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (c === quote) out += "\\" + c;
    else if (n < 0x20 || n === 0x7f) out += "\\x" + n.toString(16).padStart(2, "0");
    else out += c;
  }
  return out + quote;
}

export const unknownModel = (modelId, available) =>
  new ProtocolError("unknown_model", `model ${pyRepr(modelId)} is not registered with this server`, {
    available_models: available,
  });

export const unsupportedConstraint = (type, supported) =>
  new ProtocolError(
    "unsupported_constraint",
    `constraint type ${pyRepr(type)} is not supported by this model`,
    { supported_constraints: supported },
  );

export const unsupportedSegment = (type, supported) =>
  new ProtocolError("unsupported_segment", `segment type ${pyRepr(type)} is not supported by this model`, {
    supported_segments: supported,
  });

export const unknownJoint = (joint, skeletonJoints, skeleton = "request skeleton") =>
  new ProtocolError("unknown_joint", `joint ${pyRepr(joint)} is not in the ${skeleton}`, {
    skeleton_joints: skeletonJoints,
  });

export const frameOutOfRange = (frame, totalFrames) =>
  new ProtocolError("frame_out_of_range", `frame ${frame} is outside [0, ${totalFrames - 1}]`, {
    frame,
    total_frames: totalFrames,
  });

export const retargetingUnsupported = () =>
  new ProtocolError(
    "retargeting_unsupported",
    "this model does not support retargeting; send the canonical skeleton verbatim from /capabilities",
  );

export const versionUnsupported = (requested, supportedMajors) =>
  new ProtocolError("version_unsupported", `protocol_version ${pyRepr(requested)} is not supported by this server`, {
    supported_majors: supportedMajors,
  });
