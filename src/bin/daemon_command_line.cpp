#include "daemon_command_line.hpp"

#include <exception>
#include <iostream>

#include <boost/program_options.hpp>

namespace po = boost::program_options;

namespace ftproxy::bin {

DaemonStart parse_daemon_command_line(int argc, char** argv, const DaemonCommandLine& cli) {
  po::options_description desc("Usage: " + cli.program + " --config FILE\n\nOptions");
  desc.add_options()("help,h", "show this help")("version", "print the version")(
      "config,c", po::value<std::string>(), "run with this TOML configuration")(
      "check-config", po::value<std::string>(), cli.check_config_help.c_str());
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << cli.program << ": " << e.what() << "\n" << desc << "\n";
    return {kExitConfig, {}};
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return {kExitOk, {}};
  }
  if (vm.count("version")) {
    std::cout << cli.version << "\n";
    return {kExitOk, {}};
  }
  if (vm.count("check-config")) {
    const auto path = vm["check-config"].as<std::string>();
    if (!cli.check(path)) return {kExitConfig, {}};
    std::cout << path << ": ok\n";
    return {kExitOk, {}};
  }
  if (!vm.count("config")) {
    std::cerr << cli.program << ": --config FILE is required\n" << desc << "\n";
    return {kExitConfig, {}};
  }
  return {std::nullopt, vm["config"].as<std::string>()};
}

}  // namespace ftproxy::bin
