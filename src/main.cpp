#include "cli/commands.hpp"

int main(int argc, char** argv) { return aimass::cli::Main(argc, argv); }
