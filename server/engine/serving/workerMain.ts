// The model worker's entry when the sources run under tsx (tests); the CLI bundle starts the same
// worker as `cairn.js __serve-worker` instead (see modelHost.ts workerCommand).
import { runWorker } from './worker';

void runWorker();
