#include "common/media_type.hpp"

#include <array>
#include <cctype>
#include <utility>

namespace aimass {

std::string MediaTypeOf(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 35> kTypes = {{
      {"png", "image/png"},         {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},         {"bmp", "image/bmp"},         {"webp", "image/webp"},
      {"tif", "image/tiff"},        {"tiff", "image/tiff"},       {"pgm", "image/x-portable-graymap"},
      {"ppm", "image/x-portable-pixmap"}, {"svg", "image/svg+xml"}, {"wav", "audio/wav"},
      {"mp3", "audio/mpeg"},        {"flac", "audio/flac"},       {"ogg", "audio/ogg"},
      {"mp4", "video/mp4"},         {"avi", "video/x-msvideo"},   {"mkv", "video/x-matroska"},
      {"mov", "video/quicktime"},   {"webm", "video/webm"},       {"mpg", "video/mpeg"},
      {"mpeg", "video/mpeg"},       {"m4v", "video/x-m4v"},       {"mjpeg", "video/x-motion-jpeg"},
      {"mjpg", "video/x-motion-jpeg"}, {"txt", "text/plain"},
      {"md", "text/markdown"},      {"csv", "text/csv"},          {"tsv", "text/tab-separated-values"},
      {"json", "application/json"}, {"jsonl", "application/x-ndjson"}, {"html", "text/html"},
      {"xml", "application/xml"},   {"gz", "application/gzip"},   {"pdf", "application/pdf"},
  }};
  size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
  std::string ext;
  for (char c : name.substr(dot + 1)) ext.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return std::string(type);
  }
  return "application/octet-stream";
}

}  // namespace aimass
