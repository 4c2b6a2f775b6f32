/* SPDX-License-Identifier: MIT */
/*
 * The subcommands.  Adding one = one file with cmd_<name>() and its help
 * text + one row in loupe.c's commands[] (git/perf style).
 */
#ifndef LOUPE_COMMANDS_H
#define LOUPE_COMMANDS_H

int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_gate(int argc, char **argv);

extern const char record_help[];
extern const char report_help[];
extern const char export_help[];
extern const char analyze_help[];
extern const char top_help[];
extern const char diff_help[];
extern const char gate_help[];

/* Prints the help of NAME to stdout; -1 when there is no such command. */
int commands_print_help(const char *name);

#endif
