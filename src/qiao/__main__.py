from qiao.cli.main import main

main()
