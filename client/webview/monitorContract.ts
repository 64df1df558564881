// The one message contract between the monitoring dashboard's host (client/monitorPanel.ts) and its
// webview (client/webview/monitor.ts). Types only: the webview imports nothing else from the host.
import type { MonitorReport } from '../../server/shared/deployments';

export type { MonitorReport };

/** The windows the dashboard offers, as `cairn monitor report --since` takes them. */
export const WINDOWS = ['15m', '1h', '6h', '24h'] as const;
export type MonitorWindow = (typeof WINDOWS)[number];

/** Sent by the host: a fresh report (after `initialized`, every few seconds, after each action). */
export interface SetReportMessage {
  type: 'setReport';
  report: MonitorReport;
  window: MonitorWindow;
  /** When the host will ask again (ms since the epoch), or null when live refresh is off. */
  nextRefreshAt: number | null;
}

/** Sent by the host when the report could not be read; `message` says what and what to do. */
export interface ErrorMessage {
  type: 'error';
  message: string;
}

export type HostMessage = SetReportMessage | ErrorMessage;

/** Sent by the webview once its script runs, so the host knows it can push data. */
export interface InitializedMessage {
  type: 'initialized';
}

/** Sent by the webview's window picker. */
export interface WindowMessage {
  type: 'window';
  window: MonitorWindow;
}

/** Sent by the webview's Refresh button. */
export interface RefreshMessage {
  type: 'refresh';
}

/** Sent by the header's buttons: the host runs the matching palette command for this deployment. */
export interface ActionMessage {
  type: 'action';
  action: 'promote' | 'rollback' | 'stop';
}

/** Sent by a click on an alert of the timeline that has a runbook. */
export interface OpenRunbookMessage {
  type: 'openRunbook';
  alert: number;
}

export type WebviewMessage = InitializedMessage | WindowMessage | RefreshMessage | ActionMessage | OpenRunbookMessage;
