fn main() -> std::process::ExitCode {
    hostnet::cli::main()
}
