// libFuzzer target for the registry's search filter language (it arrives in a query string):
// CompileFilter must never crash, and a filter it accepts must compile to SQL that SQLite can
// prepare with exactly its parameters, i.e. no input turns into SQL of its own; its PostgreSQL
// translation (storage/sql_dialect) keeps every parameter, numbered $1…$n in order.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "registry/registry.hpp"
#include "registry/search.hpp"
#include "storage/db.hpp"
#include "storage/sql_dialect.hpp"

namespace {

aimass::storage::Db* Schema() {
  static aimass::storage::Db* db = [] {
    auto opened = aimass::storage::OpenSqlite({":memory:", 1000, 0});
    if (!opened.ok()) std::abort();
    auto* d = opened.value().release();
    if (!d->Migrate(aimass::registry::Registry::Migrations()).ok()) std::abort();
    return d;
  }();
  return db;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto f = aimass::registry::CompileFilter(input);
  (void)aimass::registry::CompileOrder(input);
  if (!f.ok()) return 0;
  size_t placeholders = 0;
  for (char c : f->where) placeholders += c == '?';
  if (placeholders != f->params.size()) std::abort();
  if (aimass::storage::CountPlaceholders(f->where) != static_cast<int>(placeholders)) std::abort();
  std::string pg = aimass::storage::TranslateForPostgres(f->where);
  if (pg.find('?') != std::string::npos) std::abort();
  for (size_t n = 1; n <= placeholders; ++n) {
    if (pg.find("$" + std::to_string(n)) == std::string::npos) std::abort();
  }
  if (placeholders < 9 && pg.find("$" + std::to_string(placeholders + 1)) != std::string::npos) std::abort();
  auto rows = Schema()->Query(
      "SELECT v.version FROM registry_versions v JOIN registry_models m ON m.id = v.model_id WHERE " +
          f->where,
      f->params);
  if (!rows.ok()) std::abort();  // accepted filters must be valid SQL
  return 0;
}
