package awsim

import "ecs-deploy/internal/awsproto"

// tagsOf returns the tag list of the ECS resource with the ARN.
func (s *Server) tagsOf(arn string) (*[]ecsTag, error) {
	for _, c := range s.clusters {
		if c.ClusterArn == arn {
			return &c.Tags, nil
		}
	}
	if svc, ok := s.services[arn]; ok {
		return &svc.Tags, nil
	}
	if ts, ok := s.taskSets[arn]; ok {
		return &ts.Tags, nil
	}
	if t, ok := s.tasks[arn]; ok {
		return &t.Tags, nil
	}
	if td, err := s.findTaskDefinition(arn); err == nil && td.TaskDefinitionArn == arn {
		return &td.tags, nil
	}
	return nil, awsproto.Errorf("InvalidParameterException", "The specified resource %q could not be found.", arn)
}

func (s *Server) ecsTagResource(body []byte) (any, error) {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		Tags        []ecsTag `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	tags, err := s.tagsOf(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		replaced := false
		for i := range *tags {
			if (*tags)[i].Key == t.Key {
				(*tags)[i].Value, replaced = t.Value, true
			}
		}
		if !replaced {
			*tags = append(*tags, t)
		}
	}
	return struct{}{}, nil
}

func (s *Server) ecsListTagsForResource(body []byte) (any, error) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	tags, err := s.tagsOf(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"tags": nonNilTags(*tags)}, nil
}
