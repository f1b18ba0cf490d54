// Flame graph SVG: layout of a Profile as nested frames, plus the script.
#include "report/flamegraph.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "report/flamegraph_script.h"
#include "util/format.h"

namespace cgotrace {
namespace {

constexpr int kFontSize = 12;
constexpr double kFontWidth = 0.59;  // average glyph width / font size (Verdana)
constexpr int kXPad = 10;

struct Node {
  uint32_t frame = 0;  // Profile::frames index; the "all" root has none
  uint64_t value = 0;  // including children
  std::map<std::pair<std::string, uint8_t>, Node> children;  // name order
};

uint64_t Fnv(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

// Deterministic per name, and by type: Go frames aqua, C functions hot,
// callbacks yellow, roots grey.
std::string Color(const std::string& name, FrameType type) {
  auto v = [&](uint64_t seed) { return static_cast<double>(Fnv(name, seed) % 1000) / 1000.0; };
  const double v1 = v(1), v2 = v(2), v3 = v(3);
  int r = 0, g = 0, b = 0;
  switch (type) {
    case FrameType::kGo:
      r = 50 + static_cast<int>(60 * v1);
      g = 165 + static_cast<int>(55 * v2);
      b = 165 + static_cast<int>(55 * v3);
      break;
    case FrameType::kC:
      r = 205 + static_cast<int>(50 * v3);
      g = 40 + static_cast<int>(120 * v1);  // red to orange, never callback yellow
      b = static_cast<int>(55 * v2);
      break;
    case FrameType::kCallback:
      r = 175 + static_cast<int>(55 * v1);
      g = 175 + static_cast<int>(55 * v1);
      b = 50 + static_cast<int>(20 * v2);
      break;
    case FrameType::kRoot:
    case FrameType::kTruncated:
      r = g = b = 180 + static_cast<int>(40 * v1);
      break;
  }
  return fmt::format("rgb({},{},{})", r, g, b);
}

std::string FitText(const std::string& name, double px) {
  const size_t chars = static_cast<size_t>(px / (kFontSize * kFontWidth));
  if (chars < 3) {
    return {};
  }
  return name.size() > chars ? name.substr(0, chars - 2) + ".." : name;
}

std::string Amount(const Profile& p, uint64_t value) {
  return p.weight == ProfileWeight::kTime ? HumanDuration(value)
                                          : fmt::format("{} call{}", value, value == 1 ? "" : "s");
}

struct Renderer {
  const Profile& profile;
  const FlameGraphOptions& options;
  double scale = 0;  // px per weight unit
  int top = 0;       // y of depth 0's frame
  std::string out;
  int drawn = 0;

  void Draw(const Node& n, const std::string& name, FrameType type, uint64_t x, int depth) {
    const double px = static_cast<double>(n.value) * scale;
    if (px < options.min_width_px) {
      return;
    }
    const double left = kXPad + static_cast<double>(x) * scale;
    const int y = top - depth * options.frame_height;
    const double pct =
        profile.total ? 100.0 * static_cast<double>(n.value) / static_cast<double>(profile.total)
                      : 0;
    const std::string esc = XmlEscape(name);
    fmt::format_to(std::back_inserter(out),
                   "<g class=\"f\" data-n=\"{}\" data-x=\"{}\" data-w=\"{}\" data-d=\"{}\">"
                   "<title>{} ({}, {:.2f}%)</title>"
                   "<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\" "
                   "rx=\"2\" ry=\"2\"/><text x=\"{:.2f}\" y=\"{}\">{}</text></g>\n",
                   esc, x, n.value, depth, esc, XmlEscape(Amount(profile, n.value)), pct, left, y,
                   px, options.frame_height - 1, Color(name, type), left + 3,
                   y + options.frame_height - 5, XmlEscape(FitText(name, px)));
    ++drawn;
    uint64_t child_x = x;
    for (const auto& [key, child] : n.children) {
      Draw(child, key.first, static_cast<FrameType>(key.second), child_x, depth + 1);
      child_x += child.value;
    }
  }
};

int Depth(const Node& n) {
  int d = 0;
  for (const auto& [key, child] : n.children) {
    d = std::max(d, 1 + Depth(child));
  }
  return d;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (u < 0x20 && c != '\t' && c != '\n') {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string RenderFlameGraph(const Profile& profile, const FlameGraphOptions& options) {
  Node root;
  for (const Profile::Stack& s : profile.stacks) {
    Node* n = &root;
    n->value += s.value;
    for (uint32_t f : s.path) {
      const ProfileFrame& frame = profile.frames[f];
      n = &n->children[{frame.name, static_cast<uint8_t>(frame.type)}];
      n->frame = f;
      n->value += s.value;
    }
  }
  const int depth = Depth(root) + 1;
  const int title_h = kFontSize * 4;
  const int bottom_h = kFontSize * 2 + 10;
  const int height = title_h + depth * options.frame_height + bottom_h;
  const int w = options.width;

  Renderer r{profile, options, 0, 0, {}, 0};
  r.scale =
      profile.total ? static_cast<double>(w - 2 * kXPad) / static_cast<double>(profile.total) : 0;
  r.top = height - bottom_h - options.frame_height;
  std::string& out = r.out;
  fmt::format_to(
      std::back_inserter(out),
      "<?xml version=\"1.0\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" "
      "xmlns=\"http://www.w3.org/2000/svg\" onload=\"init()\" data-total=\"{total}\" "
      "data-width=\"{w}\" data-xpad=\"{xpad}\" data-fontsize=\"{fs}\" data-fontwidth=\"{fw}\">\n"
      "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
      "<stop stop-color=\"#eeeeee\" offset=\"5%\"/><stop stop-color=\"#eeeeb0\" offset=\"95%\"/>"
      "</linearGradient></defs>\n"
      "<style type=\"text/css\">text {{ font-family: Verdana, sans-serif; font-size: {fs}px; "
      "fill: rgb(0,0,0); }} g.f:hover {{ stroke: black; stroke-width: 0.5; cursor: pointer; }} "
      "#title {{ text-anchor: middle; font-size: {ts}px; }} #subtitle {{ text-anchor: middle; "
      "fill: rgb(80,80,80); }} #unzoom, #search {{ cursor: pointer; }} #matched {{ "
      "text-anchor: end; }}</style>\n"
      "<script type=\"text/ecmascript\"><![CDATA[{script}]]></script>\n"
      "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"url(#background)\"/>\n"
      "<text id=\"title\" x=\"{mid}\" y=\"{ty}\">{title}</text>\n"
      "<text id=\"subtitle\" x=\"{mid}\" y=\"{sy}\">{subtitle}</text>\n"
      "<text id=\"unzoom\" x=\"{xpad}\" y=\"{ty}\" style=\"opacity:0\">Reset Zoom</text>\n"
      "<text id=\"search\" x=\"{sx}\" y=\"{ty}\">Search</text>\n"
      "<text id=\"details\" x=\"{xpad}\" y=\"{dy}\"> </text>\n"
      "<text id=\"matched\" x=\"{mx}\" y=\"{dy}\"> </text>\n"
      "<g id=\"frames\">\n",
      fmt::arg("w", w), fmt::arg("h", height), fmt::arg("total", profile.total),
      fmt::arg("xpad", kXPad), fmt::arg("fs", kFontSize), fmt::arg("fw", kFontWidth),
      fmt::arg("ts", kFontSize + 5), fmt::arg("script", kFlameGraphScript), fmt::arg("mid", w / 2),
      fmt::arg("ty", kFontSize * 2), fmt::arg("sy", kFontSize * 3 + 2),
      fmt::arg("title", XmlEscape(options.title)),
      fmt::arg("subtitle", XmlEscape(options.subtitle)), fmt::arg("sx", w - kXPad - 60),
      fmt::arg("dy", height - bottom_h / 2), fmt::arg("mx", w - kXPad));
  r.Draw(root, "all", FrameType::kRoot, 0, 0);
  out += "</g>\n</svg>\n";
  return out;
}

}  // namespace cgotrace
