// The budget chart: funded, reserved and posted yen at the end of each day that moved (from
// GET /mynapoint/programs/{id}/balance-history), drawn by the vendored uPlot as steps.

import uPlot from "../../vendor/uPlot.esm.js";
import { h } from "../../dom.js";
import { yen } from "../../format.js";
import { t } from "../../i18n.js";

const HEIGHT = 280;
const DAY = 24 * 60 * 60;
const SERIES = [
  { key: "budget_yen", label: "points.funded", stroke: "#0b5cad" },
  { key: "reserved_yen", label: "points.reserved", stroke: "#8a5300" },
  { key: "posted_yen", label: "points.posted", stroke: "#1a6b34" },
];

// A day's balances hold until the next movement: a step after each point.
const steps = uPlot.paths.stepped({ align: 1 });

// The first to the last day; one day alone with a day either side (uPlot would widen it to years).
function dayRange(days) {
  const [first, last] = [days[0], days[days.length - 1]];
  return first === last ? [first - DAY, last + DAY] : [first, last];
}

export function budgetChart(days) {
  const holder = h("div", { class: "chart", role: "img", "aria-label": t("points.chartLabel") });
  const data = [days.map((day) => Date.parse(`${day.day}T00:00:00+09:00`) / 1000), ...SERIES.map((series) => days.map((day) => day[series.key]))];
  const options = {
    width: 640,
    height: HEIGHT,
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Asia/Tokyo"),
    scales: { x: { time: true, range: () => dayRange(data[0]) } },
    series: [
      { label: t("points.day") },
      ...SERIES.map((series) => ({ label: t(series.label), stroke: series.stroke, width: 2, paths: steps, points: { show: true, size: 6 }, value: (_chart, amount) => (amount === null ? "" : yen(amount)) })),
    ],
    axes: [{}, { size: 90, values: (_chart, ticks) => ticks.map((tick) => (Number.isInteger(tick) ? yen(tick) : "")) }],
  };
  // Drawn once the holder is in the page, at its width, and redrawn when that changes (laptop, tablet).
  requestAnimationFrame(() => {
    const chart = new uPlot({ ...options, width: Math.max(holder.clientWidth, 280) }, data, holder);
    new ResizeObserver(() => chart.setSize({ width: Math.max(holder.clientWidth, 280), height: HEIGHT })).observe(holder);
  });
  return holder;
}
