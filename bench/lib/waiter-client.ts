/**
 * One client process of the many-waiters bench: opens long-polls (GET /tasks?wait)
 * and event streams (GET /events) over raw keep-alive sockets, one per waiter, and
 * notes when each first hears of a new task. Input (argv[2], JSON): the controller's
 * host and port, the tokens to wait as, long-polls and streams per token. Output on
 * stdout, one JSON line each: {"open": n} once every stream has its headers, then,
 * after "go" on stdin and everything heard or the time is up, {"heard": [epoch ms …]}.
 */
import type { Socket } from "bun";

type Input = { host: string; port: number; tokens: string[]; longPolls: number; streams: number; role: string; waitSeconds: number; timeoutMs: number };

const input: Input = JSON.parse(process.argv[2]!);
const now = () => performance.timeOrigin + performance.now();
const heard: number[] = [];
const sockets: Socket<Waiter>[] = [];
let streamsOpen = 0;
let listening = false;

type Waiter = { kind: "poll" | "stream"; seen: string; done: boolean };

const request = (path: string, token: string) =>
  `GET ${path} HTTP/1.1\r\nHost: ${input.host}:${input.port}\r\nAuthorization: Bearer ${token}\r\nAccept: */*\r\n\r\n`;

async function open(kind: Waiter["kind"], token: string) {
  const path = kind === "poll" ? `/tasks?target=${input.role}&status=pending&wait=${input.waitSeconds}` : "/events";
  const socket = await Bun.connect<Waiter>({
    hostname: input.host,
    port: input.port,
    data: { kind, seen: "", done: false },
    socket: {
      data(s, chunk) {
        const w = s.data;
        if (w.done) return;
        const text = chunk.toString();
        if (w.kind === "stream" && !w.seen) {
          // The first chunk is the stream's headers (and perhaps a comment): open, not yet a change.
          w.seen = "open";
          streamsOpen++;
          if (!text.includes("task.created")) return;
        }
        // A long-poll answers only with the new task; a stream's first change is it.
        if (w.kind === "poll" || text.includes("task.created")) {
          if (!listening) return;
          w.done = true;
          heard.push(now());
        }
      },
      error() {},
    },
  });
  socket.write(request(path, token));
  sockets.push(socket);
}

const opening: Promise<void>[] = [];
input.tokens.forEach((token, i) => {
  for (let k = 0; k < input.longPolls; k++) opening.push(open("poll", token));
  for (let k = 0; k < input.streams; k++) opening.push(open("stream", token));
  if (i % 50 === 49) opening.push(Bun.sleep(1)); // spread the connects a little
});
await Promise.all(opening);
const wantStreams = input.tokens.length * input.streams;
while (streamsOpen < wantStreams) await Bun.sleep(5);
console.log(JSON.stringify({ open: sockets.length }));

// "go": the task is about to be sent; only what arrives from now on counts. Report once everyone heard, or at the deadline.
for await (const _ of console) break;
listening = true;
const want = sockets.length;
const deadline = Date.now() + input.timeoutMs;
while (heard.length < want && Date.now() < deadline) await Bun.sleep(5);
console.log(JSON.stringify({ heard }));
for (const s of sockets) s.end();
process.exit(0);
