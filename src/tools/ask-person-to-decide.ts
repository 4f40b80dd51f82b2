/**
 * `ask_person_to_decide`: an agent serving an approver role puts a pending approval in
 * front of its person as a form (MCP elicitation) and records what they decide.
 */
import type { ElicitRequestFormParams } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { Outcome } from "../client/controller-client.ts";
import { explainFailure, FOR_AGENTS_SETTLING } from "../client/explain.ts";
import { Approval, DecisionRequest, Id, LIMITS, type Decision, type Me, type Task } from "../contract/schemas.ts";
import { approvalLine, approvalPage, taskBody, taskLine } from "./describe.ts";
import { ASKS_THEN_SETTLES, defineTool, refuse, succeed, type ToolContext } from "./tool.ts";

/** Forms show a message, not a document: a task's data beyond this is left to the approvals page. */
const MESSAGE_CHARS = 4_000;

const Choice = z.enum(["approve", "reject"]);
/** The choices as the person sees them, and the decision each records. */
const CHOICES: Record<z.infer<typeof Choice>, { title: string; decision: Decision }> = {
  approve: { title: "Approve", decision: "approved" },
  reject: { title: "Reject", decision: "rejected" },
};

/** What a filled-in form must hold: the client may send back anything. */
const Answer = z.object({ decision: Choice, comment: DecisionRequest.shape.comments });

const form = (requestedBy: string): ElicitRequestFormParams["requestedSchema"] => ({
  type: "object",
  properties: {
    decision: { type: "string", title: "Your decision", oneOf: Choice.options.map((value) => ({ const: value, title: CHOICES[value].title })) },
    comment: { type: "string", title: "Comment", description: `Why, or under which conditions; ${requestedBy} reads this.`, maxLength: LIMITS.textLength },
  },
  required: ["decision"],
});

function question(a: Approval, task: Task, page: string): string {
  const text = [
    `${a.requested_by} asks role ${a.approver_role} to approve a task before it goes on.`,
    `Why: ${a.reason}`,
    a.comments && `Comments: ${a.comments}`,
    "The task:",
    taskLine(task),
    taskBody(task),
  ]
    .filter(Boolean)
    .join("\n");
  return text.length <= MESSAGE_CHARS ? text : `${text.slice(0, MESSAGE_CHARS)}…\n(Cut short; all of it is at ${page})`;
}

/** How many waiting approvals are looked through for one this caller did not ask for itself. */
const CANDIDATES = 50;

/** The approval named, or else the newest one waiting for the caller's roles that the controller says it may decide; null when none waits. */
async function approvalToAsk(id: string | undefined, ctx: ToolContext): Promise<Outcome<Approval | null>> {
  if (id !== undefined) return ctx.client.call("getApproval", { params: { id } }, ctx.call);
  const r = await ctx.client.call("listApprovals", { query: { for: "me", status: "pending", limit: CANDIDATES } }, ctx.call);
  return r.ok ? { ...r, value: r.value.items.find((a) => a.may_decide.allowed) ?? null } : r;
}

/** The controller's answer to whether the caller may record a decision, in words for the agent; null when it may. */
function whyNot(a: Approval, task: Task, me: Me): string | null {
  switch (a.may_decide.refusal) {
    case undefined:
      return null;
    case "not_an_approver":
      return `you (${me.subject}) do not hold role ${a.approver_role}, and only its holders decide approval ${a.approval_id}`;
    case "asked_for_it":
      return `you asked for approval ${a.approval_id} yourself; another holder of role ${a.approver_role} must decide it`;
    case "already_decided":
      return `approval ${a.approval_id} is already ${a.status}`;
    case "expired":
      return `approval ${a.approval_id} expired undecided`;
    case "task_finished":
      return `task ${task.task_id} is already ${task.status}, so approval ${a.approval_id} no longer decides anything`;
  }
}

export const askPersonToDecide = defineTool({
  name: "ask_person_to_decide",
  title: "Ask your person to decide an approval",
  description:
    "For an agent serving an approver role: shows your person (the user of this MCP client) a pending approval — the task, " +
    "who asks and why — as a form to approve or reject with a comment, and records their answer with the controller. " +
    "Without approval_id, takes the newest approval waiting for your roles. Needs a client that shows forms (MCP elicitation); " +
    "otherwise it names the approvals page where they can decide.",
  input: {
    approval_id: Id.optional().describe("The approval to put to your person, as list_approvals gave it; default: the newest pending one for your roles."),
  },
  output: {
    outcome: z
      .enum(["decided", "declined", "cancelled", "already_decided", "nothing_pending"])
      .describe(
        "`decided`: their decision is recorded; `declined` or `cancelled`: they did not decide and nothing was recorded; `already_decided` or `nothing_pending`: nobody was asked.",
      ),
    approval: Approval.nullable().describe("The approval as it now stands; null when nothing was pending."),
  },
  annotations: ASKS_THEN_SETTLES,
  async run({ approval_id }, ctx) {
    const me = await ctx.client.call("whoami", {}, ctx.call);
    if (!me.ok) return me;
    const found = await approvalToAsk(approval_id, ctx);
    if (!found.ok) return found;
    const approval = found.value;
    if (approval === null)
      return succeed({ outcome: "nothing_pending", approval }, "No approval is waiting for your roles. Wait for one with list_approvals(wait_seconds=60).");
    const id = approval.approval_id;
    if (approval.status !== "pending")
      return succeed({ outcome: "already_decided", approval }, `Nobody was asked: approval ${id} is already decided.\n${approvalLine(approval)}`);

    const task = await ctx.client.call("getTask", { params: { id: approval.task_id } }, ctx.call);
    if (!task.ok) return task;
    const page = approvalPage(ctx.client.baseUrl, id);
    const cannot = whyNot(approval, task.value, me.value);
    if (cannot)
      return refuse(
        `${cannot}. Nobody was asked.`,
        `Have a holder of role ${approval.approver_role} decide, on the approvals page ${page} or through their own agent.`,
      );
    const stillPending = `Nothing was recorded; approval ${id} stays pending.`;
    const answer = await ctx.askPerson(question(approval, task.value, page), form(approval.requested_by));
    switch (answer.action) {
      case "unsupported":
        return refuse(
          `this MCP client cannot show forms (it did not declare the elicitation capability), so approval ${id} was not put to your person.`,
          `Have them decide on the approvals page, ${page}, or ask them in the conversation and record their answer with decide_approval(approval_id="${id}").`,
        );
      case "unanswered":
        return refuse(`the form got no answer (${answer.detail}). ${stillPending}`, `Ask again later, or have them decide on the approvals page, ${page}.`);
      case "decline":
        return succeed({ outcome: "declined", approval }, `Your person declined to decide. ${stillPending}`);
      case "cancel":
        return succeed({ outcome: "cancelled", approval }, `Your person dismissed the form without answering. ${stillPending}`);
    }
    const parsed = Answer.safeParse(answer.content ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join(".");
      const got = answer.content?.[field];
      return refuse(
        `the form came back ${got === undefined ? "without it" : `with ${JSON.stringify(got)}`}, which is not valid (${issue.message}). ${stillPending}`,
        `Ask again with ask_person_to_decide(approval_id="${id}"), or record a decision they told you with decide_approval.`,
        field,
      );
    }
    const { decision, comment } = parsed.data;
    const chosen = { decision: CHOICES[decision].decision, comments: comment };
    const decided = await ctx.client.call("decideApproval", { params: { id }, body: chosen }, ctx.call);
    if (!decided.ok) {
      // The person has answered: say what, so it can be recorded without asking them again.
      return refuse(
        `your person decided (${chosen.decision}${comment ? `, "${comment}"` : ""}), but recording it failed:\n${explainFailure(decided.failure, ctx.client.tokens.origin, FOR_AGENTS_SETTLING)}`,
        `Record their answer with decide_approval(approval_id="${id}", decision="${chosen.decision}", comments=${JSON.stringify(comment ?? "")}); do not ask them again.`,
      );
    }
    return succeed({ outcome: "decided", approval: decided.value }, `Your person decided; recorded for everyone:\n${approvalLine(decided.value)}`);
  },
});
