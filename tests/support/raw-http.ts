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
