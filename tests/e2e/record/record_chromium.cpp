#include "record_chromium.h"

#include <unistd.h>

namespace cgotrace::e2e {

std::string ChromiumBin() {
  for (const char* p :
       {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (access(p, X_OK) == 0) {
      return p;
    }
  }
  return "";
}

std::optional<std::string> DumpDom(const std::string& url, const TempDir& dir, std::string* error) {
  const std::string bin = ChromiumBin();
  if (bin.empty()) {
    *error = "chromium is not installed (apt-get install chromium)";
    return std::nullopt;
  }
  static int profile = 0;
  // Nothing may reach the network: the pages are self-contained.
  RunResult r = RunCommand(
      {bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
       "--disable-background-networking", "--disable-component-update", "--disable-sync",
       "--user-data-dir=" + dir.File("chromium-profile-" + std::to_string(++profile)), "--dump-dom",
       url},
      dir, 90s);
  if (!r.status.Ok() || r.out.empty()) {
    *error = "chromium failed: " + r.Describe();
    return std::nullopt;
  }
  return r.out;
}

std::string TraceCheckPage(const std::string& trace_json) {
  // "</" would end the <script> element early.
  std::string embedded;
  for (size_t i = 0; i < trace_json.size(); ++i) {
    embedded += trace_json[i];
    if (trace_json[i] == '<' && i + 1 < trace_json.size() && trace_json[i + 1] == '/') {
      embedded += "\\";
    }
  }
  return R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>trace check</title></head><body>
<pre id="verdict">not run</pre>
<script id="trace" type="application/json">)HTML" +
         embedded + R"HTML(</script>
<script>
(function () {
  var res = {errors: [], x: 0, threads: 0, tracks: 0, nested_callbacks: 0, counts: {}};
  function err(msg, e) { if (res.errors.length < 20) res.errors.push(msg + ": " + JSON.stringify(e)); }
  try {
    var t = JSON.parse(document.getElementById("trace").textContent);
    var tracks = {}, named = {};
    t.traceEvents.forEach(function (e) {
      if (e.ph === "M") {
        if (e.name === "thread_name") { res.threads++; named[e.pid + "/" + e.tid] = e.args.name; }
        return;
      }
      if (e.ph !== "X") { err("not a complete event", e); return; }
      ["ts", "dur", "pid", "tid"].forEach(function (k) {
        if (typeof e[k] !== "number" || !(e[k] >= 0)) err("bad " + k, e);
      });
      if (typeof e.name !== "string" || e.name === "") err("no name", e);
      res.x++;
      var key = e.args.goid + "/" + e.name + "/" + e.args.kind;
      res.counts[key] = (res.counts[key] || 0) + 1;
      (tracks[e.pid + "/" + e.tid] = tracks[e.pid + "/" + e.tid] || []).push(e);
    });
    Object.keys(tracks).forEach(function (k) {
      res.tracks++;
      if (!named[k]) err("track without thread_name", k);
      var open = [], last = -Infinity;
      tracks[k].forEach(function (e) {
        if (e.ts < last) err("not sorted by ts", e);
        last = e.ts;
        while (open.length && open[open.length - 1].ts + open[open.length - 1].dur <= e.ts) open.pop();
        var parent = open.length ? open[open.length - 1] : null;
        if (parent && e.ts + e.dur > parent.ts + parent.dur + 1e-9) err("overlaps without nesting", e);
        if (e.args.kind === "cgo_callback") {
          if (!parent || parent.args.kind !== "cgo_call" || parent.args.goid !== e.args.goid) {
            err("callback not inside a call of its goroutine", e);
          } else {
            res.nested_callbacks++;
          }
        }
        open.push(e);
      });
    });
  } catch (ex) {
    res.errors.push("exception: " + ex);
  }
  document.getElementById("verdict").textContent = JSON.stringify(res);
})();
</script></body></html>
)HTML";
}

std::optional<Json> VerdictFromDom(const std::string& dom, std::string* error) {
  const std::string open = "<pre id=\"verdict\">";
  const size_t start = dom.find(open);
  const size_t end = dom.find("</pre>", start);
  if (start == std::string::npos || end == std::string::npos) {
    *error = "no verdict element in the DOM";
    return std::nullopt;
  }
  std::string text = dom.substr(start + open.size(), end - start - open.size());
  // Undo the HTML serializer's escapes of text content.
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 5, "&amp;") == 0) {
      out += '&';
      i += 4;
    } else if (text.compare(i, 4, "&lt;") == 0) {
      out += '<';
      i += 3;
    } else if (text.compare(i, 4, "&gt;") == 0) {
      out += '>';
      i += 3;
    } else if (text.compare(i, 6, "&nbsp;") == 0) {
      out += ' ';
      i += 5;
    } else {
      out += text[i];
    }
  }
  return ParseJson(out, error);
}

}  // namespace cgotrace::e2e
