#!/bin/sh
# vendor/embed.sh FILE SYMBOL: prints a C file defining
#   const char SYMBOL[];  (FILE's bytes, NUL-terminated)
# so schema.sql travels inside the binary. od keeps it free of any tool
# beyond coreutils.
set -eu
echo "/* generated from $1 by vendor/embed.sh; do not edit */"
echo "const char $2[] = {"
od -An -v -tu1 "$1" | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $i; print "" }'
echo "0 };"
