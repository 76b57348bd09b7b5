/*
 * conform — `dongmul conformance`, the official Engine.IO and Socket.IO
 * protocol suites' reference app on sio's own code (see conform.c).
 * Prefix: conform_.
 */
#ifndef CONFORM_H
#define CONFORM_H

/* Runs the reference app with the suites' settings (server flags after
 * them win) until SIGTERM/SIGINT. The process's exit status. */
int conform_cmd(int argc, char **argv);

#endif
