module github.com/easgate/easgate

go 1.26.8
