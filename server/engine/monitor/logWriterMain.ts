// The prediction log writer thread's entry when the sources run under tsx (tests); the CLI bundle
// starts the same thread as `cairn.js __log-writer` instead (see logWriter.ts LogWriterThread).
import { runLogWriterThread } from './logWriter';

void runLogWriterThread();
