package org.livyserver.jobapi;

import org.apache.livy.Job;
import org.apache.livy.JobContext;

/** Reads the shared object `name` (set by an earlier job in the same context). */
public final class GetShared implements Job<String> {
    private final String name;

    public GetShared(String name) {
        this.name = name;
    }

    @Override
    public String call(JobContext jc) {
        return jc.getSharedObject(name);
    }
}
