#include "trace/sinks.h"

#include <array>
#include <cerrno>
#include <cstring>

#include "util/choice.h"
#include "util/format.h"

namespace cgotrace {
namespace {

class SinkBase : public EventSink {
 public:
  explicit SinkBase(FILE* out) : out_(out) {}
  Result<void> Flush() override {
    if (fflush(out_) != 0 || ferror(out_) != 0) {
      return MakeError("writing events failed: {}", strerror(errno));
    }
    return Ok();
  }

 protected:
  void Write(const std::string& line) {
    // Write errors stick to the stream; Flush() reports them once.
    (void)fwrite(line.data(), 1, line.size(), out_);
    (void)fputc('\n', out_);
  }

 private:
  FILE* out_;
};

class JsonlSink : public SinkBase {
 public:
  using SinkBase::SinkBase;
  void OnEvent(const CgoEvent& event) override { Write(FormatEventJson(event)); }
};

class TextSink : public SinkBase {
 public:
  using SinkBase::SinkBase;
  void OnEvent(const CgoEvent& event) override {
    if (!header_done_) {
      Write(EventTextHeader());
      t0_ = event.start_ns;
      header_done_ = true;
    }
    Write(FormatEventText(event, t0_));
  }

 private:
  bool header_done_ = false;
  uint64_t t0_ = 0;
};

}  // namespace

Result<EventFormat> ParseEventFormat(const std::string& text) {
  static constexpr std::array<Choice<EventFormat>, 3> kChoices{
      {{"text", EventFormat::kText},
       {"jsonl", EventFormat::kJsonl},
       {"json", EventFormat::kJsonl, /*listed=*/false}}};
  return ParseChoice<EventFormat>("--format", text, kChoices);
}

std::unique_ptr<EventSink> MakeEventSink(EventFormat format, FILE* out) {
  if (format == EventFormat::kJsonl) {
    return std::make_unique<JsonlSink>(out);
  }
  return std::make_unique<TextSink>(out);
}

}  // namespace cgotrace
