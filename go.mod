module ecs-deploy

go 1.26

require github.com/aws/smithy-go v1.28.9
