import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMED_QUEUES_ENV, DEAD_LETTER_QUEUES_ENV, functionsOf, queuesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { pascal } from '../lib/names.js';
import { COMPLIANCE_COLLECTOR_ACTIONS } from '../lib/pillar-services.js';
import { actionsOf, allPolicyStatements, resourcesOf, type Synthesized, synthConductor } from './synth.js';

/** The actions that inspect, redrive and discard dead letters. */
const DEAD_LETTER_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:StartMessageMoveTask',
  'sqs:ListMessageMoveTasks',
];

/** `Fn::ImportValue` names of a statement's resources (the stateful stack's exports). */
const importsOf = (resources: readonly unknown[]): string[] =>
  resources.map((resource) => String((resource as { 'Fn::ImportValue'?: string })['Fn::ImportValue'] ?? ''));

describe('a function with deadLetterAccess (ops)', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor();
  });
  afterAll(() => synth?.dispose());

  const opsPolicy = () => {
    const fn = synth.api.functions.ops;
    if (!fn) throw new Error('no ops function in the API stack');
    const roleId = synth.logicalIdOf(fn.function.role?.node.defaultChild as never);
    return allPolicyStatements(synth.flatApiTemplate).filter(({ where }) =>
      where.startsWith(roleId.replace(/[A-F0-9]{8}$/, '')),
    );
  };

  it('receives every queue with its DLQ in CONDUCTOR_QUEUES', () => {
    // Prepare
    const fn = synth.api.functions.ops;
    if (!fn) throw new Error('no ops function in the API stack');
    const resource = synth.flatApiTemplate.toJSON().Resources[
      synth.logicalIdOf(fn.function.node.defaultChild as never)
    ] as { Properties: { Environment: { Variables: Record<string, unknown> } } };

    // Act
    const value = JSON.stringify(resource.Properties.Environment.Variables[DEAD_LETTER_QUEUES_ENV]);

    // Assess
    expect(value).toBeDefined();
    for (const queue of ['Rewards', 'DecisionArchive', 'SchedulerJobs']) {
      expect(value).toContain(`ExportsOutputRef${queue}DeadLetterQueue`);
      expect(value).toContain(`ExportsOutputFnGetAtt${queue}DeadLetterQueue`);
      expect(value).toContain(`ExportsOutputRef${queue}Queue`);
    }
  });

  it('may receive, delete and move messages of every DLQ, and of nothing else', () => {
    // Act
    const statements = opsPolicy().map(({ statement }) => statement);
    const onDlqs = statements.filter((s) => actionsOf(s).includes('sqs:StartMessageMoveTask'));
    const receiving = statements.filter((s) => actionsOf(s).includes('sqs:ReceiveMessage'));

    // Assess
    expect(onDlqs).toHaveLength(1);
    expect(actionsOf(onDlqs[0] ?? { Effect: 'Allow', Action: [] })).toEqual(
      expect.arrayContaining(DEAD_LETTER_ACTIONS),
    );
    for (const statement of receiving) {
      const targets = importsOf(resourcesOf(statement));
      expect(targets).toHaveLength(queuesOf(PILLARS).length);
      for (const target of targets) expect(target).toMatch(/DeadLetterQueue[A-Z0-9]+Arn/);
    }
  });

  it('may send to every queue (the destination of a redrive), not to any DLQ', () => {
    // Act
    const sending = opsPolicy()
      .map(({ statement }) => statement)
      .filter((s) => actionsOf(s).includes('sqs:SendMessage'));

    // Assess
    const targets = sending.flatMap((s) => importsOf(resourcesOf(s)));
    for (const queue of ['Rewards', 'DecisionArchive', 'SchedulerJobs']) {
      expect(targets.some((t) => t.includes(`FnGetAtt${queue}Queue`))).toBe(true);
    }
    expect(targets.filter((t) => t.includes('DeadLetterQueue'))).toEqual([]);
  });

  it('is the only function given dead-letter rights or the queue list', () => {
    // Prepare
    const others = functionsOf(PILLARS).filter((fn) => !fn.deadLetterAccess);

    // Act
    const movers = allPolicyStatements(synth.flatApiTemplate).filter(({ statement }) =>
      actionsOf(statement).includes('sqs:StartMessageMoveTask'),
    );
    const withQueueList = Object.entries(
      synth.flatApiTemplate.findResources('AWS::Lambda::Function') as Record<
        string,
        { Properties: { Environment?: { Variables?: Record<string, unknown> } } }
      >,
    )
      .filter(([, resource]) => resource.Properties.Environment?.Variables?.[DEAD_LETTER_QUEUES_ENV])
      .map(([logicalId]) => logicalId);

    // Assess
    expect(others.length).toBeGreaterThan(0);
    expect(movers.map(({ where }) => where)).toEqual([expect.stringMatching(/^OpsRole/)]);
    const ops = synth.api.functions.ops?.function.node.defaultChild;
    expect(withQueueList).toEqual([synth.logicalIdOf(ops as never)]);
  });
});

describe('a queue consumer', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor();
  });
  afterAll(() => synth?.dispose());

  const QUEUES = queuesOf(PILLARS);
  const logicalIdOf = (name: string): string => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no ${name} function in the API stack`);
    return synth.logicalIdOf(fn.function.node.defaultChild as never);
  };
  /** The statements of a function's role (its default policy), by function name. */
  const statementsOf = (name: string) => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no ${name} function in the API stack`);
    const roleId = synth.logicalIdOf(fn.function.role?.node.defaultChild as never);
    return allPolicyStatements(synth.flatApiTemplate)
      .filter(({ where }) => where.startsWith(roleId.replace(/[A-F0-9]{8}$/, '')))
      .map(({ statement }) => statement);
  };
  const variablesOf = (name: string): Record<string, unknown> =>
    (
      synth.flatApiTemplate.toJSON().Resources[logicalIdOf(name)] as {
        Properties: { Environment?: { Variables?: Record<string, unknown> } };
      }
    ).Properties.Environment?.Variables ?? {};

  it('receives the queues it consumes, with their DLQs, in CONDUCTOR_CONSUMED_QUEUES, and no other queue', () => {
    for (const queue of QUEUES) {
      // Act
      const value = JSON.stringify(variablesOf(queue.consumer)[CONSUMED_QUEUES_ENV]);

      // Assess
      expect(value, queue.consumer).toContain(`"${queue.id}\\":`);
      expect(value).toContain(`ExportsOutputRef${pascal(queue.id)}DeadLetterQueue`);
      expect(value).toContain(`ExportsOutputFnGetAtt${pascal(queue.id)}Queue`);
      for (const other of QUEUES.filter((q) => q.consumer !== queue.consumer)) {
        expect(value, `${queue.consumer} is given ${other.id}`).not.toContain(
          `${pascal(other.id)}DeadLetterQueue`,
        );
      }
    }
  });

  it('may send to the DLQs of the queues it consumes (a last delivery, with its error), to no other DLQ, and do nothing else there', () => {
    const consumers = new Set(QUEUES.map((queue) => queue.consumer));
    for (const consumer of consumers) {
      // Prepare: a consumer may take several queues (the scheduler's worker, one per priority).
      const consumed = QUEUES.filter((queue) => queue.consumer === consumer);

      // Act
      const onDlqs = statementsOf(consumer).filter((statement) =>
        importsOf(resourcesOf(statement)).some((target) => target.includes('DeadLetterQueue')),
      );

      // Assess
      expect(onDlqs, consumer).toHaveLength(1);
      const [statement] = onDlqs;
      if (!statement) continue;
      expect(actionsOf(statement)).toContain('sqs:SendMessage');
      expect(actionsOf(statement).filter((action) => !/^sqs:(SendMessage|GetQueue)/.test(action))).toEqual(
        [],
      );
      // CDK merges a producer's SendMessage on another pillar's queue into the same statement (the
      // scheduler's worker sends the router its job outcomes): besides the DLQs, only queues it produces to.
      const produced = QUEUES.filter(
        (queue) => queue.producers !== 'policy-enforcers' && queue.producers.includes(consumer),
      );
      const targets = importsOf(resourcesOf(statement)).filter(
        (target) =>
          !produced.some((queue) => new RegExp(`FnGetAtt${pascal(queue.id)}Queue[A-Z0-9]+Arn`).test(target)),
      );
      expect(targets).toHaveLength(consumed.length);
      for (const queue of consumed) {
        expect(targets).toContainEqual(
          expect.stringMatching(new RegExp(`FnGetAtt${pascal(queue.id)}DeadLetterQueue[A-Z0-9]+Arn`)),
        );
      }
    }
  });

  it('is the only function besides ops that may send to a DLQ, or is given CONDUCTOR_CONSUMED_QUEUES', () => {
    // Prepare
    const consumers = new Set(QUEUES.map((queue) => queue.consumer));
    const others = functionsOf(PILLARS).filter((fn) => !consumers.has(fn.name) && !fn.deadLetterAccess);

    // Act
    const offending = others.filter(
      (fn) =>
        variablesOf(fn.name)[CONSUMED_QUEUES_ENV] !== undefined ||
        statementsOf(fn.name).some(
          (statement) =>
            importsOf(resourcesOf(statement)).some((target) => target.includes('DeadLetterQueue')) &&
            // The compliance collector reads the DLQs' attributes (their depth), nothing else.
            !(
              fn.complianceCollector === true &&
              actionsOf(statement).every((a) =>
                (COMPLIANCE_COLLECTOR_ACTIONS.sqs as readonly string[]).includes(a),
              )
            ),
        ),
    );

    // Assess
    expect(others.length).toBeGreaterThan(0);
    expect(offending.map((fn) => fn.name)).toEqual([]);
  });
});
