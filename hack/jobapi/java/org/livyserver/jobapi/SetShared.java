package org.livyserver.jobapi;

import org.apache.livy.Job;
import org.apache.livy.JobContext;

/** Stores `value` under `name` in the context's shared objects; returns it. */
public final class SetShared implements Job<String> {
    private final String name;
    private final String value;

    public SetShared(String name, String value) {
        this.name = name;
        this.value = value;
    }

    @Override
    public String call(JobContext jc) {
        jc.setSharedObject(name, value);
        return value;
    }
}
