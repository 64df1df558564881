// What the Deployments and Alerts views, the status bar and the alert notifications show, from the
// CLI's JSON: versions with their traffic, health icons, the rollout in words, which alerts are new,
// and which deployment the status bar follows.
import * as assert from 'node:assert/strict';
import {
  activeDeployment,
  alertDescription,
  alertIcon,
  alertNotification,
  deployedStatus,
  deploymentContext,
  deploymentDescription,
  deploymentIcon,
  newlyFiring,
  orderedAlerts,
  proposedRetrain,
  rolloutText,
  statusBarText,
  versionRows,
} from '../../client/deployModel';
import type { AlertRecord, DeploymentStatus, RetrainRecord } from '../../client/deployModel';

const NOW = Date.UTC(2026, 10, 27, 8, 0, 0);

function deployment(extra: Partial<DeploymentStatus> = {}): DeploymentStatus {
  return {
    name: 'rain',
    file: 'rain.deploy.yaml',
    status: 'serving',
    health: 'healthy',
    pid: 100,
    url: 'http://127.0.0.1:18080',
    stable: { model: 'rain-tomorrow', version: 2, ref: 'rain-tomorrow@champion', pid: 101, ready: true },
    candidate: null,
    traffic: { stable: 100, candidate: 0, mirror: 0 },
    rollout: { strategy: 'direct', phase: 'none', step: null, steps: null, nextStepAt: null, reason: null },
    startedAt: NOW - 60_000,
    updatedAt: NOW,
    events: [],
    ...extra,
  };
}

const canary = deployment({
  candidate: { model: 'rain-tomorrow', version: 3, ref: 'rain-tomorrow:3', pid: 102, ready: true },
  traffic: { stable: 90, candidate: 10, mirror: 0 },
  rollout: { strategy: 'canary', phase: 'progressing', step: 0, steps: 3, nextStepAt: NOW + 65_000, reason: null },
});

function alert(id: number, extra: Partial<AlertRecord> = {}): AlertRecord {
  return {
    id,
    deployment: 'rain',
    rule: 'drift',
    severity: 'warning',
    state: 'firing',
    condition: 'drift.share > 0.5',
    value: 0.75,
    message: 'Half the features drifted.',
    runbook: 'runbooks/drift.md',
    actions: ['retrain-proposed'],
    firedAt: NOW - id * 1000,
    resolvedAt: null,
    ...extra,
  };
}

describe('Deployments view', () => {
  it('shows the stable version and a canary with their traffic', () => {
    const rows = versionRows(canary);
    assert.deepEqual(
      rows.map((row) => [row.label, row.description]),
      [
        ['stable: rain-tomorrow v2', '90% · ready · rain-tomorrow@champion · pid 101'],
        ['candidate: rain-tomorrow v3', '10% · ready · rain-tomorrow:3 · pid 102'],
      ],
    );
    assert.equal(deploymentDescription(canary, NOW), 'serving · healthy · canary step 1/3, next in 1m 5s');
    assert.equal(deploymentContext(canary), 'cairn.deployment.live.candidate');
  });

  it('shows a shadow candidate by its mirrored share, never as live traffic', () => {
    const shadow = deployment({
      candidate: { model: 'rain-tomorrow', version: 3, ref: 'rain-tomorrow:3', pid: 102, ready: false },
      traffic: { stable: 100, candidate: 0, mirror: 25 },
      rollout: { strategy: 'shadow', phase: 'progressing', step: null, steps: null, nextStepAt: null, reason: null },
    });
    assert.equal(versionRows(shadow)[1]?.description, 'shadow 25% mirrored · not ready · rain-tomorrow:3 · pid 102');
    assert.equal(statusBarText(shadow).text, '$(pass-filled) rain: healthy (100/shadow 25)');
  });

  it('says a stopped deployment is stopped, without pids or readiness', () => {
    const stopped = deployment({ status: 'stopped', health: 'stopped', pid: null });
    assert.equal(versionRows(stopped)[0]?.description, '100% · rain-tomorrow@champion');
    assert.equal(deploymentDescription(stopped), 'stopped');
    assert.equal(deploymentIcon(stopped).id, 'circle-slash');
    assert.equal(deploymentContext(stopped), 'cairn.deployment.stopped');
  });

  it('shows how many workers of a version served by several are ready, and their pids', () => {
    const replicated: DeploymentStatus = {
      ...canary,
      candidate: null,
      stable: { ...canary.stable, replicas: { pids: [101, 103], ready: 1, total: 2 } },
    };
    assert.equal(
      versionRows(replicated)[0]?.description,
      `${canary.traffic.stable}% · 1 of 2 workers ready · rain-tomorrow@champion · pid 101, 103`,
    );
  });

  it('draws health as an icon, and a spinner while starting', () => {
    assert.equal(deploymentIcon(deployment()).id, 'pass-filled');
    assert.equal(deploymentIcon(deployment({ health: 'degraded' })).id, 'warning');
    assert.equal(deploymentIcon(deployment({ health: 'down' })).id, 'error');
    assert.equal(deploymentIcon(deployment({ status: 'failed' })).id, 'error');
    assert.equal(deploymentIcon(deployment({ status: 'starting' })).id, 'sync~spin');
  });

  it('puts the rollout in words', () => {
    const base = canary.rollout;
    assert.equal(
      rolloutText({ ...base, phase: 'aborted', reason: 'error_rate 0.2 > 0.05' }),
      'canary rolled back: error_rate 0.2 > 0.05',
    );
    assert.equal(rolloutText({ ...base, phase: 'promoted' }), 'canary promoted');
    assert.equal(rolloutText({ ...base, phase: 'awaiting-approval' }), 'canary awaiting promotion');
    assert.equal(rolloutText({ ...base, strategy: 'ab', phase: 'none' }), 'A/B test');
    assert.equal(rolloutText(deployment().rollout), '');
  });

  it('reads what `cairn deploy FILE --json` printed, in any of its wrappings', () => {
    assert.equal(deployedStatus(canary)?.name, 'rain');
    assert.equal(deployedStatus({ deployment: canary })?.name, 'rain');
    assert.equal(deployedStatus({ deployments: [canary] })?.name, 'rain');
    assert.equal(deployedStatus({ deployments: [] }), null);
    assert.equal(deployedStatus('serving'), null);
  });
});

describe('status bar', () => {
  it('follows the preferred deployment while it runs, else the live one updated last', () => {
    const older = deployment({ name: 'old', updatedAt: NOW - 5000 });
    const stopped = deployment({ name: 'gone', status: 'stopped', health: 'stopped', updatedAt: NOW + 5000 });
    assert.equal(activeDeployment([older, canary, stopped], null)?.name, 'rain');
    assert.equal(activeDeployment([older, canary, stopped], 'old')?.name, 'old');
    assert.equal(activeDeployment([older, canary], 'missing')?.name, 'rain');
    assert.equal(activeDeployment([stopped], null), null);
    // A stopped preferred deployment gives way to a live one, and shows while none runs.
    assert.equal(activeDeployment([older, stopped], 'gone')?.name, 'old');
    assert.equal(activeDeployment([stopped], 'gone')?.name, 'gone');
    assert.equal(statusBarText(canary).text, '$(pass-filled) rain: healthy (90/10)');
    assert.match(statusBarText(canary).tooltip, /at http:\/\/127\.0\.0\.1:18080/);
  });
});

describe('Alerts view and notifications', () => {
  it('shows firing alerts first, newest first, with severity icons', () => {
    const alerts = [alert(3, { state: 'resolved', resolvedAt: NOW }), alert(2), alert(1, { severity: 'critical' })];
    assert.deepEqual(
      orderedAlerts(alerts).map((each) => each.id),
      [1, 2, 3],
    );
    assert.equal(alertIcon(alerts[0] as AlertRecord).id, 'pass');
    assert.equal(alertIcon(alerts[2] as AlertRecord).id, 'error');
    assert.equal(alertIcon(alerts[1] as AlertRecord).id, 'warning');
    assert.equal(alertDescription(alert(1)), 'warning · firing · rain · drift.share > 0.5 (0.75) · 07:59:59');
  });

  it('notifies only alerts that start firing after the first look', () => {
    assert.deepEqual(newlyFiring([alert(1)], null), []);
    const seen = new Set([1]);
    assert.deepEqual(
      newlyFiring([alert(1), alert(2), alert(3, { state: 'resolved' })], seen).map((each) => each.id),
      [2],
    );
    assert.match(
      alertNotification(alert(2)),
      /^Cairn alert warning: drift on rain: drift\.share > 0\.5 \(value 0\.75\)\. Half the features drifted\. Actions: retrain-proposed\.$/,
    );
  });

  it('finds the retrain an alert proposed while it waits for approval', () => {
    const retrain = (id: number, status: RetrainRecord['status'], alertId: number | null): RetrainRecord => ({
      id,
      deployment: 'rain',
      alert: alertId,
      reason: 'drift',
      status,
      experiment: 'weather/rain.experiment.yaml',
      runId: null,
      model: null,
      version: null,
      message: null,
      proposedAt: NOW,
      approvedBy: null,
      endedAt: null,
    });
    const retrains = [retrain(1, 'declined', 2), retrain(2, 'proposed', 2), retrain(3, 'proposed', 9)];
    assert.equal(proposedRetrain(alert(2), retrains)?.id, 2);
    assert.equal(proposedRetrain(alert(4), retrains), null);
  });
});
