// Refreshes the progress block of a queued/running submission every 2 s and
// reloads the page once it has finished, to show the result and the chart.
(function () {
  "use strict";
  var FINAL = ["scored", "failed", "cancelled"];
  function refresh() {
    var block = document.getElementById("progress");
    if (!block) { return; }
    fetch(block.getAttribute("data-url"), { headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#progress");
        if (!fresh) { return; }
        if (FINAL.indexOf(fresh.getAttribute("data-status")) !== -1) {
          window.location.reload();
          return;
        }
        block.replaceWith(fresh);
        window.setTimeout(refresh, 2000);
      })
      .catch(function () { window.setTimeout(refresh, 5000); });
  }
  window.setTimeout(refresh, 2000);
})();
