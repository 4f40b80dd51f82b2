/** Raw bytes over TCP, for requests fetch() will not send (no Host, HTTP/1.0, a bad Host). */

export type RawResponse = { status: number; head: string; body: string };

/** Sends `request` as written and reads until the server closes the connection. */
export async function rawRequest(url: string, request: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const text = await new Promise<string>((resolve, reject) => {
    let received = "";
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (socket) => void socket.write(request),
        data: (_socket, chunk) => void (received += chunk.toString()),
        close: () => resolve(received),
        error: (_socket, error) => reject(error),
        connectError: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
  const [head = "", body = ""] = text.split("\r\n\r\n", 2);
  return { status: Number(/^HTTP\/1\.\d (\d{3})/.exec(head)?.[1] ?? 0), head, body };
}

export type HeldConnection = {
  /** The first response's status line and headers. */
  answered: Promise<string>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  isOpen: () => boolean;
  close: () => void;
};

/** Opens a connection, sends `request` (if any) and keeps the connection open afterwards. */
export async function holdConnection(url: string, request?: string): Promise<HeldConnection> {
  const { hostname, port } = new URL(url);
  let open = true;
  let received = "";
  const answered = Promise.withResolvers<string>();
  const closed = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data: (_socket, chunk) => {
        received += chunk.toString();
        if (received.includes("\r\n\r\n")) answered.resolve(received.split("\r\n\r\n")[0]!);
      },
      close: () => {
        open = false;
        answered.resolve(received);
        closed.resolve();
      },
      error: () => {},
    },
  });
  if (request) socket.write(request);
  else answered.resolve("");
  return { answered: answered.promise, closed: closed.promise, isOpen: () => open, close: () => socket.end() };
}
