/**
 * A TCP proxy between controllers and PostgreSQL, so a test can take the database away
 * (refuse new connections, drop open ones) and give it back on the same port, without
 * stopping the server other tests use. It can also lose the answer to a COMMIT. It passes the COMMIT on, waits for the server's
 * answer (the transaction is then committed) and closes the connection instead of
 * relaying it, so the controller cannot know that its write is done: the case only an
 * idempotency key makes safe to retry.
 */
import net from "node:net";

/** A simple-protocol Query message holding exactly `COMMIT` (how Bun.SQL ends a transaction). */
const COMMIT = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 11]), Buffer.from("COMMIT\0", "latin1")]);

export type PgProxy = {
  port: number;
  /** Refuse new connections and drop the open ones. */
  cut: () => Promise<void>;
  restore: () => Promise<void>;
  /** From now on, lose the answer to each COMMIT with this probability (0 stops). */
  loseCommitAnswers: (probability: number) => void;
  /** COMMITs whose answer was lost so far. */
  lostCommitAnswers: () => number;
  close: () => Promise<void>;
};

export async function startPgProxy(targetPort: number, targetHost = "127.0.0.1", random: () => number = Math.random): Promise<PgProxy> {
  const open = new Set<net.Socket>();
  let probability = 0;
  let lost = 0;
  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    track(client);
    track(upstream);
    /** A COMMIT went through whose answer is to be lost. */
    let swallowing = false;
    client.on("data", (chunk: Buffer) => {
      if (!swallowing && probability > 0 && chunk.includes(COMMIT) && random() < probability) swallowing = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!swallowing) return void client.write(chunk);
      // The server has answered the COMMIT: it is done. The controller never hears so.
      lost++;
      client.destroy();
      upstream.destroy();
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const cut = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of open) socket.destroy();
    });
  return {
    port,
    cut,
    restore: () => listen(port),
    loseCommitAnswers: (p) => void (probability = p),
    lostCommitAnswers: () => lost,
    close: cut,
  };
}
