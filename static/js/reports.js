/* Report charts (templates/reports/partials/table.html): each canvas draws the table named
   by its data-chart-table attribute, so the chart shows exactly the numbers of the table,
   which stays on the page for readers without JavaScript. Labels come from the first
   column, one data set per column index in data-chart-series, values from data-value. */
(function () {
  "use strict";

  var PALETTE = ["#2f5bd3", "#12805c", "#f59f00", "#c92a2a", "#7048e8", "#1098ad", "#868e96"];
  // Named colours a chart may ask for (data-chart-colors), in the app's palette.
  var NAMED = { accent: "#2f5bd3", won: "#12805c", lost: "#c92a2a", amber: "#f59f00", muted: "#868e96" };

  function cellValue(cell) {
    var value = cell ? cell.getAttribute("data-value") : "";
    return value === "" || value === null ? null : Number(value);
  }

  function draw(canvas) {
    var table = document.getElementById(canvas.getAttribute("data-chart-table"));
    if (!table || typeof Chart === "undefined") {
      return;
    }
    var headers = table.querySelectorAll("thead th");
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var series = canvas.getAttribute("data-chart-series").split(",").map(Number);
    var stacked = canvas.hasAttribute("data-chart-stacked");
    var horizontal = canvas.hasAttribute("data-chart-horizontal");
    var kind = canvas.getAttribute("data-chart-kind") || "bar";
    var colors = (canvas.getAttribute("data-chart-colors") || "").split(",").filter(Boolean);
    var labels = rows.map(function (row) {
      return row.cells[0].textContent.trim();
    });
    var datasets = series.map(function (index, position) {
      var color = NAMED[colors[position]] || PALETTE[position % PALETTE.length];
      return {
        label: headers[index].textContent.trim(),
        data: rows.map(function (row) {
          return cellValue(row.cells[index]);
        }),
        backgroundColor: color,
        borderColor: color,
        borderRadius: kind === "bar" ? 4 : 0,
        maxBarThickness: 48,
        tension: 0.25,
      };
    });
    var valueAxis = { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } };
    var labelAxis = { stacked: stacked, grid: { display: false } };
    new Chart(canvas, {
      type: kind,
      data: { labels: labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: datasets.length > 1, position: "bottom" } },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      },
    });
  }

  document.querySelectorAll("canvas[data-chart-table]").forEach(draw);

  // The From and To dates matter for custom dates only.
  var period = document.querySelector(".report-filters select[name=period]");
  if (period) {
    var syncDates = function () {
      document.querySelectorAll("[data-custom-dates]").forEach(function (field) {
        field.hidden = period.value !== "custom";
      });
    };
    period.addEventListener("change", syncDates);
    syncDates();
  }
})();
