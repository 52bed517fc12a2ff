#!/usr/bin/env bash
# Prints the set of bouncestream_* metric names that the dashboards and alert rules use, one per
# line, sorted: the metric family names of metrics/METRICS.md (a histogram's _bucket/_sum/_count
# series count as the histogram). With --samples, the series names as written in the queries.
#
# usage: ops/metric_names.sh [--samples] [EXPRESSIONS_FILE]   (default ops/expressions.txt)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
samples=0
if [[ "${1:-}" == "--samples" ]]; then samples=1; shift; fi
file="${1:-$here/expressions.txt}"
metrics_md="$here/../metrics/METRICS.md"

names="$(grep -oE 'bouncestream_[a-z0-9_]*[a-z0-9]' "$file" | sort -u)"
if ((samples)); then
  printf '%s\n' "$names"
  exit 0
fi
# Histograms: from METRICS.md when it is there, else any name used with a _bucket suffix.
# shellcheck disable=SC2016  # backquotes are Markdown, not shell
histograms="$(
  { [[ -f "$metrics_md" ]] && grep -oE '^\| `bouncestream_[a-z0-9_]+` \| histogram' "$metrics_md" |
      grep -oE 'bouncestream_[a-z0-9_]+'
    grep -oE '^bouncestream_[a-z0-9_]+_bucket$' <<<"$names" | sed 's/_bucket$//' || true
  } | sort -u
)"
while read -r n; do
  base="${n%_bucket}"; base="${base%_sum}"; base="${base%_count}"
  if [[ "$base" != "$n" ]] && grep -qxF "$base" <<<"$histograms"; then
    echo "$base"
  else
    echo "$n"
  fi
done <<<"$names" | sort -u
