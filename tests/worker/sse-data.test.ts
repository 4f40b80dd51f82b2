/** The worker's reader of an A2A agent's event stream, fed in awkward chunks. */
import { expect, test } from "bun:test";
import { sseData } from "../../src/worker/a2a-client.ts";

const streamOf = (chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      controller.close();
    },
  });

test("a CRLF split across two chunks still ends an event", async () => {
  const events: string[] = [];
  for await (const data of sseData(streamOf(['data: {"a":1}\r\n\r', '\ndata: {"b":2}\r', "\n\r\n"]))) events.push(data);
  expect(events).toEqual(['{"a":1}', '{"b":2}']);
});
