// The search module: full-text, vector and hybrid search indexes over the platform's data,
// with relevance evaluation and click feedback (/api/v1/search).
#pragma once

#include <memory>

#include "module/module.hpp"
#include "search/search.hpp"

namespace aimass::search {

class SearchModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "search";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/search"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "serving", "datasets"}; }
  std::vector<storage::Migration> Migrations() const override { return SearchService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  void Stop() override;

  SearchService& service() { return *service_; }

 private:
  std::unique_ptr<SearchService> service_;
  uint64_t max_batch_bytes_ = 0;
};

}  // namespace aimass::search
