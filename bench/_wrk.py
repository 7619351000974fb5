"""What the benchmarks that load with wrk share: a done() for wrk's Lua script, and the reader of its report.

REPORT_LUA's done() prints the figures as one line, `BENCH {json}`, latencies in microseconds. When a script's
setup() keeps its threads in the global `threads` and each thread counts answers by status in its global
`statuses`, done() adds those counts up under "statuses".
"""

import json

REPORT_LUA = """
done = function(summary, latency, requests)
  local statuses = {}
  for _, thread in ipairs(threads or {}) do
    for status, count in pairs(thread:get("statuses") or {}) do
      statuses[status] = (statuses[status] or 0) + count
    end
  end
  local counts = {}
  for status, count in pairs(statuses) do counts[#counts + 1] = string.format('"%d": %d', status, count) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
               + summary.errors.status + summary.errors.timeout
  io.write(string.format('BENCH {"requests": %d, "seconds": %f, "errors": %d, "p50_us": %d, "p99_us": %d, '
    .. '"mean_us": %f, "statuses": {%s}}\\n', summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50), latency:percentile(99), latency.mean, table.concat(counts, ", ")))
end
"""


def read_report(output: str) -> dict:
    """The figures on the `BENCH {json}` line that REPORT_LUA's done() printed among wrk's output."""
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    return json.loads(line.removeprefix("BENCH "))
