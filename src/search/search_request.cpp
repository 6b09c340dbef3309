#include "search/search_request.hpp"

#include <cmath>

namespace aimass::search {

using nlohmann::json;

Result<SearchRequest> ParseSearchRequest(const json& b) {
  if (!b.is_object()) return Status::BadRequest("a search is a JSON object");
  SearchRequest r;
  static const char* kKnown[] = {"q", "filter", "facets", "sort", "limit", "offset", "highlight", "matching",
                                 "typo_tolerance", "prefix_search", "hybrid", "vector"};
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (std::find_if(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return it.key() == k; }) == std::end(kKnown)) {
      return Status::BadRequest("unknown member '" + it.key() + "' of a search");
    }
  }
  if (b.contains("q") && !b["q"].is_null()) {
    if (!b["q"].is_string()) return Status::BadRequest("q is a string");
    r.q = b["q"].get<std::string>();
    if (r.q.size() > 4096) return Status::BadRequest("q is at most 4096 bytes");
  }
  if (b.contains("filter") && !b["filter"].is_null()) {
    if (b["filter"].is_string()) {
      r.filter = b["filter"].get<std::string>();
    } else if (b["filter"].is_array()) {
      // A list of conditions, all of which hold.
      for (const auto& f : b["filter"]) {
        if (!f.is_string()) return Status::BadRequest("filter is a string or a list of strings");
        if (!r.filter.empty()) r.filter += " AND ";
        r.filter += "(" + f.get<std::string>() + ")";
      }
    } else {
      return Status::BadRequest("filter is a string or a list of strings");
    }
  }
  if (b.contains("facets")) {
    if (!b["facets"].is_array()) return Status::BadRequest("facets is a list of field names");
    for (const auto& f : b["facets"]) {
      if (!f.is_string()) return Status::BadRequest("facets is a list of field names");
      r.facets.push_back(f.get<std::string>());
    }
  }
  if (b.contains("sort")) {
    if (!b["sort"].is_array()) return Status::BadRequest("sort is a list of \"field:asc\" or \"field:desc\"");
    for (const auto& s : b["sort"]) {
      if (!s.is_string()) return Status::BadRequest("sort is a list of \"field:asc\" or \"field:desc\"");
      std::string v = s.get<std::string>();
      size_t c = v.rfind(':');
      std::string dir = c == std::string::npos ? "asc" : v.substr(c + 1);
      if (dir != "asc" && dir != "desc") return Status::BadRequest("sort: '" + v + "' is field:asc or field:desc");
      r.sort.emplace_back(c == std::string::npos ? v : v.substr(0, c), dir == "asc");
    }
  }
  for (auto [key, dst, max] : {std::tuple{"limit", &r.limit, kMaxLimit}, std::tuple{"offset", &r.offset, kMaxOffset}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_number_integer() || b[key].get<int64_t>() < 0 || b[key].get<int64_t>() > static_cast<int64_t>(max)) {
      return Status::BadRequest(std::string(key) + " is a whole number 0-" + std::to_string(max));
    }
    *dst = b[key].get<size_t>();
  }
  std::optional<bool> highlight;
  for (auto [key, dst] : {std::pair{"highlight", &highlight}, std::pair{"typo_tolerance", &r.typos},
                          std::pair{"prefix_search", &r.prefix}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_boolean()) return Status::BadRequest(std::string(key) + " is true or false");
    *dst = b[key].get<bool>();
  }
  r.highlight = highlight.value_or(r.highlight);
  if (b.contains("matching")) {
    if (b["matching"] != "any" && b["matching"] != "all") return Status::BadRequest("matching is any or all");
    r.matching = b["matching"].get<std::string>();
  }
  if (b.contains("vector") && !b["vector"].is_null()) {
    if (!b["vector"].is_array() || b["vector"].empty() || b["vector"].size() > 4096) {
      return Status::BadRequest("vector is a list of 1-4096 numbers");
    }
    for (const auto& x : b["vector"]) {
      if (!x.is_number() || !std::isfinite(x.get<double>())) return Status::BadRequest("vector is a list of numbers");
      r.vector.push_back(x.get<float>());
    }
    r.ratio = 1;
  }
  if (b.contains("hybrid") && !b["hybrid"].is_null()) {
    const json& h = b["hybrid"];
    if (!h.is_object()) return Status::BadRequest("hybrid is {ratio}");
    r.ratio = 0.5;
    if (h.contains("ratio")) {
      if (!h["ratio"].is_number() || h["ratio"].get<double>() < 0 || h["ratio"].get<double>() > 1) {
        return Status::BadRequest("hybrid.ratio is 0 (keywords only) to 1 (vectors only)");
      }
      r.ratio = h["ratio"].get<double>();
    }
  }
  return r;
}

}  // namespace aimass::search
