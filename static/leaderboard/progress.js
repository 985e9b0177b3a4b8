// Follows a queued or running submission without reloading the page: polls the
// progress endpoint's JSON (each answer carries only the seconds from `since`
// on), replaces the progress block, extends the live chart second by second
// and lists the induced failures as they hit. Once the submission has finished
// it reloads the page once, to show the scored result and its final chart.
//
// The chart's geometry is leaderboard/charts.py's run_chart, drawn here again
// from the same numbers: a change there belongs here too.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var RUNNING_EVERY_MS = 1000;
  var QUEUED_EVERY_MS = 2000;
  var RETRY_MS = 5000;
  // Seconds asked for again on each poll, for a probe verdict stored late.
  var OVERLAP_S = 2;

  function niceCeiling(value) {
    if (value <= 0) { return 1; }
    var exponent = Math.floor(Math.log10(value));
    var steps = [1, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) {
      var candidate = steps[i] * Math.pow(10, exponent);
      if (candidate >= value * (1 - 1e-9)) { return candidate; }
    }
    return Math.pow(10, exponent + 1);
  }

  // Whole numbers as they are, others with at most two decimals (charts.py's _label).
  function label(value) {
    return value.toLocaleString("en-US", { maximumFractionDigits: value === Math.floor(value) ? 0 : 2 });
  }

  function r1(value) { return Math.round(value * 10) / 10; }

  function el(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function layer(name) {
    var group = svg.querySelector("." + name);
    while (group.firstChild) { group.removeChild(group.firstChild); }
    return group;
  }

  // A stepped band per run of consecutive seconds: along the tops, back along the bottoms.
  function bandPath(rows, x, y) {
    var shapes = [];
    rows.forEach(function (row) {
      var shape = shapes[shapes.length - 1];
      if (shape && shape[shape.length - 1][0] + 1 === row[0]) { shape.push(row); } else { shapes.push([row]); }
    });
    return shapes.map(function (shape) {
      var start = shape[0][0];
      var end = shape[shape.length - 1][0] + 1;
      var path = "M" + x(start) + " " + y(shape[0][1]);
      var level = null;
      shape.forEach(function (row, i) {
        var high = y(row[2]);
        if (high === level) { return; }
        if (i) { path += "H" + x(row[0]); }
        path += "V" + high;
        level = high;
      });
      path += "H" + x(end);
      level = null;
      shape.slice().reverse().forEach(function (row, i) {
        var low = y(row[1]);
        if (low === level) { return; }
        if (i) { path += "H" + x(row[0] + 1); }
        path += "V" + low;
        level = low;
      });
      return path + "H" + x(start) + "Z";
    }).join(" ");
  }

  function runsOf(values) {
    var runs = [];
    values.forEach(function (value) {
      var last = runs[runs.length - 1];
      if (last && last[0] + last[1] === value) { last[1] += 1; } else { runs.push([value, 1]); }
    });
    return runs;
  }

  // Under Node (the test that checks this geometry against charts.py) there is no page to follow.
  if (typeof document === "undefined") {
    module.exports = { niceCeiling: niceCeiling, label: label, bandPath: bandPath };
    return;
  }

  var block = document.getElementById("progress");
  if (!block) { return; }
  var url = block.getAttribute("data-url");
  var figure = document.getElementById("live-chart");
  var svg = figure ? figure.querySelector("svg") : null;
  var seconds = {};   // second -> [successes, failures, p95 ms or null]
  var down = {};      // second -> true when a probe saw the target down
  var faults = [];
  var run = null;
  var lastSecond = -1;
  var finished = false;

  function draw() {
    if (!svg || !run) { return; }
    var left = +svg.getAttribute("data-left");
    var right = +svg.getAttribute("data-right");
    var top = +svg.getAttribute("data-top");
    var bottom = +svg.getAttribute("data-bottom");
    var plotW = right - left;
    var plotH = bottom - top;
    var keys = Object.keys(seconds).map(Number).sort(function (a, b) { return a - b; });
    var span = Math.max(1, run.duration_s, lastSecond + 1);
    var rampUp = run.ramp_up_s || 0;
    function x(second) { return r1(left + plotW * second / span); }
    var rpsMax = niceCeiling(Math.max.apply(null, [0].concat(keys.map(function (s) { return seconds[s][0] + seconds[s][1]; }))));
    var measured = keys.filter(function (s) { return seconds[s][2] !== null && s >= rampUp; });
    var p95Source = measured.length ? measured : keys.filter(function (s) { return seconds[s][2] !== null; });
    var p95Max = niceCeiling(Math.max.apply(null, [0].concat(p95Source.map(function (s) { return seconds[s][2]; }))));
    function y(value, max) { return r1(bottom - plotH * Math.min(value, max) / max); }
    function yRps(value) { return y(value, rpsMax); }

    svg.querySelector(".series-success").setAttribute("d", bandPath(keys.filter(function (s) {
      return seconds[s][0] > 0;
    }).map(function (s) { return [s, 0, seconds[s][0]]; }), x, yRps));
    svg.querySelector(".series-failure").setAttribute("d", bandPath(keys.filter(function (s) {
      return seconds[s][1] > 0;
    }).map(function (s) { return [s, seconds[s][0], seconds[s][0] + seconds[s][1]]; }), x, yRps));
    svg.querySelector(".series-p95").setAttribute("points", keys.filter(function (s) {
      return seconds[s][2] !== null;
    }).map(function (s) { return x(s + 0.5) + "," + y(seconds[s][2], p95Max); }).join(" "));

    var ramp = layer("layer-ramp");
    if (rampUp > 0) {
      ramp.appendChild(el("rect", { "class": "ramp-up", x: left, y: top, width: r1(plotW * Math.min(rampUp, span) / span), height: plotH }));
    }
    var downLayer = layer("layer-down");
    runsOf(Object.keys(down).map(Number).sort(function (a, b) { return a - b; })).forEach(function (band) {
      var rect = el("rect", { "class": "down-band", x: x(band[0]), y: top, width: r1(plotW * band[1] / span), height: plotH });
      rect.appendChild(el("title", {}, "down"));
      downLayer.appendChild(rect);
    });
    var grid = layer("layer-grid");
    var p95Ticks = layer("layer-p95-ticks");
    for (var i = 0; i <= 4; i++) {
      var rpsValue = rpsMax * i / 4;
      var gy = y(rpsValue, rpsMax);
      grid.appendChild(el("line", { "class": "grid", x1: left, x2: right, y1: gy, y2: gy }));
      grid.appendChild(el("text", { "class": "axis-rps", x: left - 6, y: gy, "text-anchor": "end", "dominant-baseline": "middle", "font-size": 11 }, label(rpsValue)));
      var p95Value = p95Max * i / 4;
      p95Ticks.appendChild(el("text", { "class": "axis-p95", x: right + 6, y: y(p95Value, p95Max), "dominant-baseline": "middle", "font-size": 11 }, label(p95Value)));
    }
    var xLayer = layer("layer-x");
    var choices = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800];
    var step = 3600;
    for (var c = 0; c < choices.length; c++) { if (span / choices[c] <= 10) { step = choices[c]; break; } }
    for (var t = 0; t <= span; t += step) {
      xLayer.appendChild(el("line", { "class": "axis", x1: x(t), x2: x(t), y1: bottom, y2: bottom + 4 }));
      xLayer.appendChild(el("text", { "class": "axis-x", x: x(t), y: bottom + 16, "text-anchor": "middle", "font-size": 11 }, t + "s"));
    }
    var faultLayer = layer("layer-faults");
    faults.forEach(function (fault) {
      if (fault.applied_s === null) { return; }
      // Still in force: drawn up to the latest second.
      var end = fault.cleared_s !== null ? fault.cleared_s : Math.max(fault.applied_s, lastSecond + 1);
      end = Math.max(end, fault.applied_s + 0.2);
      var group = el("g", { "class": "fault" + (fault.cleared_s === null ? " in-force" : "") });
      var fx = x(fault.applied_s);
      group.appendChild(el("rect", { "class": "fault-band", x: fx, y: top, width: Math.max(1, r1(plotW * (end - fault.applied_s) / span)), height: plotH }));
      group.appendChild(el("line", { "class": "fault-start", x1: fx, x2: fx, y1: top, y2: bottom }));
      group.appendChild(el("text", { "class": "fault-label", x: fx, y: top, dx: 3, dy: -6, "font-size": 11 }, fault.kind));
      faultLayer.appendChild(group);
    });
  }

  function describeFault(fault) {
    if (fault.applied_s !== null) {
      if (fault.cleared_s !== null) {
        return "applied at " + fault.applied_s.toFixed(1) + " s, cleared at " + fault.cleared_s.toFixed(1) + " s";
      }
      return "in force since " + fault.applied_s.toFixed(1) + " s";
    }
    return fault.refused ? "refused by the target" : "planned at " + fault.planned_at_s.toFixed(1) + " s";
  }

  function listFaults() {
    var list = document.getElementById("live-faults");
    if (!list || !faults.length) { return; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    faults.forEach(function (fault) {
      var item = document.createElement("li");
      item.setAttribute("data-index", fault.index);
      if (fault.applied_s !== null && fault.cleared_s === null) { item.className = "in-force"; }
      item.textContent = fault.kind + " — " + describeFault(fault);
      list.appendChild(item);
    });
  }

  function merge(answer, since) {
    run = answer;
    answer.seconds.forEach(function (row) {
      seconds[row[0]] = [row[1], row[2], row[3]];
      if (row[0] > lastSecond) { lastSecond = row[0]; }
    });
    // The answer holds every down second from `since` on.
    Object.keys(down).forEach(function (s) { if (+s >= since) { delete down[s]; } });
    answer.probe_down_seconds.forEach(function (s) { down[s] = true; });
    faults = answer.faults;
    var note = document.getElementById("live-note");
    if (note && lastSecond >= 0) {
      note.textContent = "Updated as the load test runs: " + (lastSecond + 1) + " of " + answer.duration_s + " s recorded.";
    }
  }

  function showProgress(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#progress");
    if (fresh) {
      block.replaceWith(fresh);
      block = fresh;
    }
  }

  function schedule(ms) { window.setTimeout(poll, ms); }

  function poll() {
    if (finished) { return; }
    var since = Math.max(0, lastSecond - OVERLAP_S);
    fetch(url + "?since=" + since, { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (answer) {
        if (answer.finished) {
          // Once: the finished page has no follower, so this cannot loop.
          finished = true;
          window.location.reload();
          return;
        }
        showProgress(answer.progress_html);
        if (answer.run) {
          merge(answer.run, since);
          draw();
          listFaults();
        }
        schedule(answer.status === "running" ? RUNNING_EVERY_MS : QUEUED_EVERY_MS);
      })
      .catch(function () { schedule(RETRY_MS); });
  }

  poll();
})();
