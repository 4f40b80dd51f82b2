/** Every tool this server offers: the seed's four, then the receiving side. */
import { addTaskNote } from "./add-task-note.ts";
import { askPersonToDecide } from "./ask-person-to-decide.ts";
import { askSender } from "./ask-sender.ts";
import { cancelTask } from "./cancel-task.ts";
import { checkInbox } from "./check-inbox.ts";
import { claimTask } from "./claim-task.ts";
import { completeTask } from "./complete-task.ts";
import { decideApproval } from "./decide-approval.ts";
import { failTask } from "./fail-task.ts";
import { fetchStatus } from "./fetch-status.ts";
import { listApprovals } from "./list-approvals.ts";
import { notify } from "./notify.ts";
import { replyToTask } from "./reply-to-task.ts";
import { reportProgress } from "./report-progress.ts";
import { requestApproval } from "./request-approval.ts";
import { sendTask } from "./send-task.ts";
import type { MeshTool } from "./tool.ts";

export const TOOLS: readonly MeshTool[] = [
  sendTask,
  requestApproval,
  notify,
  fetchStatus,
  checkInbox,
  claimTask,
  reportProgress,
  completeTask,
  failTask,
  cancelTask,
  listApprovals,
  decideApproval,
  askPersonToDecide,
  askSender,
  replyToTask,
  addTaskNote,
];
