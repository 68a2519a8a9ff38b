<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;

/** One login, written by the queue worker (App\Jobs\RecordLogin). */
class Login extends Model
{
    protected $fillable = ['user_id', 'ip_address', 'worker_pid', 'worker', 'processed_at'];

    protected $casts = ['processed_at' => 'datetime'];

    public function user()
    {
        return $this->belongsTo(User::class);
    }
}
