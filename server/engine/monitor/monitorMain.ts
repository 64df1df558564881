// The monitor process's entry when the sources run under tsx (tests); the CLI bundle starts the same
// process as `cairn.js __monitor` instead (see monitorProcess.ts monitorCommand).
import { runMonitorProcess } from './monitorProcess';

void runMonitorProcess();
