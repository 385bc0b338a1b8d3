#!/usr/bin/env bash
# usage: scripts/lint.sh BUILD_DIR
# Three checks over the project's C files (src/, sim/, tests/; never the vendored llhttp):
#   format    clang-format --dry-run --Werror with the repo's .clang-format (reports, never edits)
#   cppcheck  --enable=warning,performance,portability, include path src
#   tidy      clang-tidy with the repo's .clang-tidy over BUILD_DIR/compile_commands.json
# Known false positives live in scripts/lint-suppressions.txt, per tool, check and file.
# LINT_STEPS="format cppcheck tidy" (default: all) picks steps; LINT_JOBS sets parallelism.
# Runs every step, prints a summary, exits 1 if any step found something.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "$1" && pwd)"
steps="${LINT_STEPS:-format cppcheck tidy}"
jobs="${LINT_JOBS:-$(nproc)}"
supp="$src/scripts/lint-suppressions.txt"
cd "$src"

for tool in clang-format cppcheck clang-tidy; do
    command -v "$tool" >/dev/null || { echo "lint: $tool is not installed (make deps)" >&2; exit 2; }
done

# The C files to check, relative to the repo root.
list_files() {
    if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'sim/*.c' 'sim/*.h' \
            'tests/*.c' 'tests/*.h'
    else
        find src sim tests -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null
    fi | while read -r f; do [[ -f "$f" ]] && echo "$f"; done | sort
}
mapfile -t files < <(list_files)
mapfile -t c_files < <(printf '%s\n' "${files[@]}" | grep '\.c$')

# suppressed TOOL CHECK FILE: listed in the suppressions file?
suppressed() {
    [[ -f "$supp" ]] && awk -v t="$1" -v c="$2" -v f="$3" '
        /^[ \t]*(#|$)/ { next }
        $1 == t && $2 == c && $3 == f { found = 1 }
        END { exit found ? 0 : 1 }' "$supp"
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/lgw-lint.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
declare -A result

# ---------------------------------------------------------------- clang-format
run_format() {
    local bad=()
    local f
    for f in "${files[@]}"; do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if ((${#bad[@]})); then
        echo "lint/format: ${#bad[@]} file(s) differ from .clang-format (run: clang-format -i FILE):"
        printf '  %s\n' "${bad[@]}"
        return 1
    fi
    echo "lint/format: ${#files[@]} files ok"
}

# ---------------------------------------------------------------- cppcheck
run_cppcheck() {
    local list="$tmp/cppcheck.supp"
    : >"$list"
    if [[ -f "$supp" ]]; then
        awk '/^[ \t]*(#|$)/ { next } $1 == "cppcheck" { print $2 ":" $3 }' "$supp" >"$list"
    fi
    local rc=0
    cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
        --std=c11 -q -j "$jobs" -I src -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
        -DLGW_VERSION='"0.0.0"' --suppress=missingIncludeSystem --suppressions-list="$list" \
        -i /usr/share/llhttp \
        --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
        "${c_files[@]}" 2>"$tmp/cppcheck.out" || rc=$?
    if ((rc != 0)); then
        echo "lint/cppcheck: findings:"
        cat "$tmp/cppcheck.out"
        return 1
    fi
    echo "lint/cppcheck: ${#c_files[@]} files ok"
}

# ---------------------------------------------------------------- clang-tidy
run_tidy() {
    local db="$build/compile_commands.json"
    [[ -f "$db" ]] || { echo "lint/tidy: $db not found (configure the build first)"; return 1; }
    # translation units of the project in the compilation database (llhttp is not ours)
    node -e '
        const db = require(process.argv[1]), root = process.argv[2] + "/";
        const seen = new Set();
        for (const e of db) {
            const f = require("path").resolve(e.directory, e.file);
            if (f.startsWith(root) && /^(src|sim|tests)\//.test(f.slice(root.length)) && !seen.has(f)) {
                seen.add(f);
                console.log(f.slice(root.length));
            }
        }' "$db" "$src" >"$tmp/tidy.files"
    local n
    n="$(wc -l <"$tmp/tidy.files")"
    ((n > 0)) || { echo "lint/tidy: no project files in $db"; return 1; }
    mkdir -p "$tmp/tidy"
    # one output file per translation unit, in parallel
    xargs -P "$jobs" -I{} sh -c 'clang-tidy -p "$1" --quiet "$2" >"$3/$(echo "$2" | tr / _).out" 2>&1 || true' \
        _ "$build" {} "$tmp/tidy" <"$tmp/tidy.files"
    # keep each diagnostic block (the diagnostic line and its notes) unless suppressed;
    # a diagnostic in a header shows up once per includer, so deduplicate by its first line
    local findings=0 seen="$tmp/tidy.seen"
    : >"$seen"
    local out line block="" keep=0 head=""
    flush() {
        if ((keep)) && ! grep -qxF -- "$head" "$seen"; then
            echo "$head" >>"$seen"
            printf '%s' "$block"
            findings=$((findings + 1))
        fi
        block=""
        keep=0
    }
    local re='^(/[^:]+):([0-9]+):([0-9]+): (warning|error): .*\[([^],]+)(,[^]]*)?\]$'
    for out in "$tmp"/tidy/*.out; do
        while IFS= read -r line; do
            if [[ "$line" =~ $re ]]; then
                flush
                local path="${BASH_REMATCH[1]#"$src"/}" check="${BASH_REMATCH[5]}"
                head="$path:${BASH_REMATCH[2]}:${BASH_REMATCH[3]}: $check"
                suppressed clang-tidy "$check" "$path" || keep=1
                block="${line#"$src"/}"$'\n'
            elif [[ "$line" =~ ^[0-9]+\ (warning|error)s?\ .*generated\.$ || "$line" =~ ^Error\ while\ processing ||
                "$line" =~ ^Suppressed\ [0-9]+\ warnings || "$line" =~ ^Use\ -header-filter ||
                "$line" =~ ^[0-9]+\ warnings?\ treated\ as\ errors ]]; then
                continue
            elif [[ -n "$block" ]]; then
                block+="${line#"$src"/}"$'\n'
            fi
        done <"$out"
        flush
    done
    if ((findings)); then
        echo "lint/tidy: $findings finding(s) above"
        return 1
    fi
    echo "lint/tidy: $n files ok"
}

failed=0
for step in $steps; do
    case "$step" in
    format) run_format && result[$step]=ok || { result[$step]=FAILED; failed=1; } ;;
    cppcheck) run_cppcheck && result[$step]=ok || { result[$step]=FAILED; failed=1; } ;;
    tidy) run_tidy && result[$step]=ok || { result[$step]=FAILED; failed=1; } ;;
    *) echo "lint: unknown step $step" >&2; exit 2 ;;
    esac
done
echo -n "lint:"
for step in $steps; do echo -n " $step=${result[$step]}"; done
echo
exit "$failed"
