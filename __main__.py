from ifb1.cli import main

main()
