import type { Command } from '../command.js';
import { budgetsCommand } from './budgets.js';
import { complianceCommand } from './compliance.js';
import { dlqCommand } from './dlq.js';
import { edgeCommand } from './edge.js';
import { expertsCommand } from './experts.js';
import { jobsCommand } from './jobs.js';
import { loginCommand } from './login.js';
import { policyCommand } from './policy.js';
import { priorsCommand } from './priors.js';
import { experimentCommand, outcomeCommand, replayCommand } from './replay.js';
import { rewardCommand } from './reward.js';
import { invokeCommand, routeCommand } from './route.js';
import { runbookCommand } from './runbook.js';
import { tokenCommand } from './token.js';

/** Every top-level command, in the order `conductor --help` lists them. A pillar adds its module here. */
export const COMMANDS: readonly Command[] = [
  loginCommand,
  tokenCommand,
  expertsCommand,
  routeCommand,
  invokeCommand,
  rewardCommand,
  outcomeCommand,
  experimentCommand,
  replayCommand,
  priorsCommand,
  budgetsCommand,
  jobsCommand,
  policyCommand,
  runbookCommand,
  edgeCommand,
  complianceCommand,
  dlqCommand,
];
