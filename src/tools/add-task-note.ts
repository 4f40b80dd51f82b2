/** `add_task_note`: either side of a task adds to its thread without moving it. */
import { Id, NoteRequest, ThreadMessage } from "../contract/schemas.ts";
import { CREATES, defineTool, succeed } from "./tool.ts";

export const addTaskNote = defineTool({
  name: "add_task_note",
  title: "Add a note to a task's thread",
  description:
    "Tell the other side of a task something without changing its state: as its sender (e.g. a detail while it is still pending) " +
    "or as its holder (e.g. what you found so far). The note shows in the task's thread; whoever waits on the task hears of it.",
  input: {
    task_id: Id.describe("The task's id."),
    text: NoteRequest.shape.text,
    data: NoteRequest.shape.data,
  },
  output: { message: ThreadMessage },
  annotations: CREATES,
  async run({ task_id, text, data }, ctx) {
    const r = await ctx.client.call("noteTask", { params: { id: task_id }, body: { text, data } }, ctx.call);
    if (!r.ok) return r;
    return succeed({ message: r.value }, `Added a note to task ${task_id}'s thread.`);
  },
});
