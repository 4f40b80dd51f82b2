/**
 * The prompt an agent CLI gets for a task: what to do, what it came with, who sent it,
 * what to answer with and how to reach the mesh (approvals, sub-tasks). A template
 * from --prompt-file replaces the built-in one; both fill the same {placeholders}.
 */
import type { Task } from "../contract/schemas.ts";

export const DEFAULT_TEMPLATE = `You are an agent serving the role "{role}" in Agent Mesh. Do the task below, headless: no person reads this conversation.

Task {task_id} ({type}), sent by {source}:
{description}

Its data:
{data}

Where it comes from (context):
{context}

The agent-mesh MCP tools are attached as your role's identity:
- If a step needs a person's approval (deploying, spending, deleting, anything irreversible), call request_approval and wait for the decision before you do it; if it is rejected, do not do it.
- Hand part of the work to another role with send_task and wait for it with fetch_status; tell a person something with notify.
- Do not call claim_task, complete_task or fail_task for task {task_id}: the worker that started you finishes it with your answer.

When you are done, end your answer with one JSON object on its own line holding the result for the sender, e.g. {"summary": "...", "changes": [...]}.
If you cannot do the task, say why in plain words and exit with an error.`;

/** The task's fields a template may name. */
function fields(task: Task, role: string): Record<string, string> {
  return {
    role,
    task_id: task.task_id,
    type: task.task_type,
    description: task.description ?? "(no description: the type and data say what to do)",
    data: JSON.stringify(task.data, null, 2),
    context: JSON.stringify(task.context, null, 2),
    source: task.source,
    attempt: String(task.attempt),
  };
}

/** The template with each known {name} filled; unknown braces (JSON examples) stay as they are. */
export function renderPrompt(template: string, task: Task, role: string): string {
  const values = fields(task, role);
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}
