from mailcrm_cli.main import main

main()
