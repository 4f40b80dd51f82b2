/** zod-free, so that what only needs a limit (settings at start-up) does not load the schemas. */
/** Limits that hold under abuse; the store and the HTTP layer rely on them. */
export const LIMITS = {
  bodyBytes: 1024 * 1024,
  idLength: 128,
  roleLength: 128,
  textLength: 16 * 1024,
  pageSize: 200,
  /** A page of tasks ends early rather than grow past this (tasks may be up to bodyBytes each). */
  pageBytes: 4 * 1024 * 1024,
  defaultPageSize: 50,
  waitSeconds: 60,
  /** How deep a JSON body may nest: no task needs more, and recursion has limits. */
  jsonDepth: 64,
  /** A task's detail shows this many of its newest history entries and approvals; the rest are a link away. */
  detailHistory: 50,
  detailApprovals: 20,
  /** A claim's lease: from a second (tests) to a day; heartbeats renew it. */
  leaseSeconds: { min: 1, max: 86_400 },
  /** Attempts a sender may allow one task, and the default. */
  maxAttempts: 100,
  defaultMaxAttempts: 3,
  /** How far ahead a deadline or an approval's expiry may be set. */
  horizonSeconds: 366 * 86_400,
  /** A worker or session seen this recently serves its role (it reports on every long-poll, each at most a minute). */
  servingSeconds: 150,
  /** GET /roles lists who served each role this recently; send_task says when no one has. */
  presenceWindowSeconds: 3600,
  /** Workers and sessions (by role and instance) kept per caller: the newest; an older one is forgotten. */
  presencePerCaller: 64,
  /** Workers and sessions GET /roles lists per role (the newest); its counts take in all of them. */
  serversListed: 50,
  /** How deep subtasks nest: a task and this many levels below it, counted from the root (the root is level 1). */
  subtaskDepth: 5,
  /** Subtasks one task may have; its detail shows them all. */
  subtasksPerTask: 50,
  /** Questions, answers and notes one task's thread may hold; its detail shows them all. */
  threadMessages: 200,
} as const;
