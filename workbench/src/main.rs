fn main() -> std::process::ExitCode {
    workbench::main()
}
