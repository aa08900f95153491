from stockade.cli.main import main

main()
