/**
 * The failures the mesh knows by name. The controller turns them into RFC 9457
 * problems; the controller client turns problems back into them; tools turn them
 * into advice for a model. One table keeps the three in step.
 */
export const ERROR_KINDS = {
  bad_request: { status: 400, title: "Bad request" },
  unauthenticated: { status: 401, title: "Not signed in" },
  forbidden: { status: 403, title: "Not allowed" },
  not_found: { status: 404, title: "Not found" },
  no_route: { status: 404, title: "No such route" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  payload_too_large: { status: 413, title: "Request body too large" },
  invalid: { status: 422, title: "Invalid request" },
  idempotency_mismatch: { status: 422, title: "Idempotency key reused with another request" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal error" },
  unavailable: { status: 503, title: "Service unavailable" },
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export type FieldError = { field: string; message: string };

export class MeshError extends Error {
  override name = "MeshError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_KINDS[this.kind].status;
  }
}

export const problemType = (kind: ErrorKind) => `urn:agent-mesh:problem:${kind.replaceAll("_", "-")}`;

export const kindOfProblemType = (type: string): ErrorKind | undefined => {
  const kind = type.replace("urn:agent-mesh:problem:", "").replaceAll("-", "_");
  return kind in ERROR_KINDS ? (kind as ErrorKind) : undefined;
};
