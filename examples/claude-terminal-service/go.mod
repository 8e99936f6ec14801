module example.com/claude-terminal-service

go 1.19
